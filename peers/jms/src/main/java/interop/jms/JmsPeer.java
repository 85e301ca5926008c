package interop.jms;

import interop.common.Options;
import interop.common.Out;
import interop.common.PeerBase;
import jakarta.jms.Connection;
import jakarta.jms.JMSException;
import jakarta.jms.Session;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.qpid.jms.JmsConnectionFactory;
import org.apache.qpid.jms.policy.JmsDefaultMessageIDPolicy;

/**
 * One JMS connection per attempt, on a plain {@code amqp://} URI (not {@code failover:}): the
 * peer's own loop reconnects and resends what was not confirmed, so the counts in its result
 * are its own. JMS shows neither link credit nor settlement nor the outcome of a failed send,
 * so those events are declared unreported; the tap sees the frames.
 */
final class JmsPeer extends PeerBase {
    static final List<String> UNREPORTED = List.of("sendable", "settled", "released", "modified", "rejected");
    private static final Pattern CONDITION = Pattern.compile("\\[condition = ([^\\]]+)\\]");
    final JmsRole jmsRole;
    final Ids ids = new Ids();
    /** The connection's failure, as the ExceptionListener heard it. */
    final AtomicReference<JMSException> lost = new AtomicReference<>();

    JmsPeer(Options o) {
        super(o);
        if (!o.dynamicCapabilities.isEmpty() && o.role.equals("request")) {
            // reported in the result's options as given, but never on the wire: the tap shows it
            Out.stderr("jms: --dynamic-capability not applied: a JMS temporary queue takes no"
                    + " capabilities from its user (Qpid JMS always sends temporary-queue)");
        }
        jmsRole = JmsRoles.create(this);
        role = jmsRole;
    }

    @Override
    protected List<String> unreported() {
        return UNREPORTED;
    }

    String uri() {
        String sasl = opts.user != null && opts.password != null ? "PLAIN" : "ANONYMOUS";
        return "amqp://" + opts.hostPort() + "?amqp.saslMechanisms=" + sasl
                + "&jms.prefetchPolicy.all=100&jms.closeTimeout=5000&jms.connectTimeout=15000"
                + "&jms.clientIDPrefix=" + URLEncoder.encode("amqp-interop-jms-", StandardCharsets.UTF_8);
    }

    @Override
    protected void connection() throws Exception {
        JmsConnectionFactory factory = new JmsConnectionFactory(uri());
        if (opts.user != null && opts.password != null) {
            factory.setUsername(opts.user);
            factory.setPassword(opts.password);
        }
        JmsDefaultMessageIDPolicy policy = new JmsDefaultMessageIDPolicy();
        policy.setMessageIDBuilder(ids); // integer ids 1..N on the wire, as ulong
        factory.setMessageIDPolicy(policy);
        lost.set(null);
        Connection conn = factory.createConnection();
        PeerBase.Step start = () -> {
            conn.setExceptionListener(lost::set);
            conn.start();
        };
        PeerBase.Step work = () -> jmsRole.run(conn.createSession(false, Session.CLIENT_ACKNOWLEDGE));
        connected(start, work, () -> closeQuietly(conn), conn::close); // JMS does not show the remote's container-id
    }

    static void closeQuietly(Connection conn) {
        try {
            conn.close();
        } catch (Exception e) {
            Out.stderr("closing the JMS connection: " + describe(e));
        }
    }

    /** Throws the connection's failure, if the ExceptionListener heard one. */
    void check() throws JMSException {
        JMSException e = lost.get();
        if (e != null) {
            throw e;
        }
    }

    @Override
    protected Exception classify(Exception e) {
        String text = describe(e);
        Matcher m = CONDITION.matcher(text);
        if (!m.find() || lost.get() != null) {
            return e; // no error from the remote: a lost connection
        }
        String condition = m.group(1);
        String description = Out.oneLine(text.substring(0, m.start()));
        if (condition.startsWith("amqp:connection:")) {
            out.event("connection_error", "condition", condition, "description", description);
            if (condition.equals("amqp:connection:forced") && opts.reconnect) {
                return e;
            }
            return new Fatal("connection error " + condition + ": " + description);
        }
        out.event("link_error", "link", null, "condition", condition, "description", description);
        return new Fatal("link refused with " + condition + ": " + description);
    }
}
