package interop.jms;

import java.util.UUID;
import org.apache.qpid.jms.message.JmsMessageIDBuilder;
import org.apache.qpid.jms.provider.amqp.message.AmqpMessageIdHelper;
import org.apache.qpid.proton.amqp.UnsignedLong;

/**
 * Message ids. The contract wants integer ids 1..N; JMS assigns JMSMessageID itself, so the
 * peer installs a message-id builder (Qpid JMS's JmsMessageIDPolicy) that yields the unsigned
 * long the role set before each send. Incoming ids read back as {@code ID:AMQP_ULONG:n} and
 * friends; {@link #json} turns them into what is on the wire.
 */
final class Ids implements JmsMessageIDBuilder {
    private volatile Long next;

    /** The id of the next message sent (null: a UUID string, for replies and hello). */
    void next(Long id) {
        this.next = id;
    }

    @Override
    public Object createMessageID(String producerId, long sequence) {
        Long id = next;
        return id != null ? (Object) UnsignedLong.valueOf(id) : "ID:" + UUID.randomUUID();
    }

    /** The wire value behind a JMSMessageID or JMSCorrelationID string, as contract JSON. */
    static Object json(String jmsId) {
        if (jmsId == null) {
            return null;
        }
        Object v;
        try {
            v = AmqpMessageIdHelper.toIdObject(jmsId);
        } catch (Exception e) {
            return jmsId;
        }
        if (v instanceof UnsignedLong) {
            return ((UnsignedLong) v).longValue();
        }
        if (v instanceof org.apache.qpid.proton.amqp.Binary) {
            org.apache.qpid.proton.amqp.Binary b = (org.apache.qpid.proton.amqp.Binary) v;
            byte[] data = new byte[b.getLength()];
            System.arraycopy(b.getArray(), b.getArrayOffset(), data, 0, b.getLength());
            return interop.common.Json.hex(data);
        }
        return v == null ? null : v.toString();
    }
}
