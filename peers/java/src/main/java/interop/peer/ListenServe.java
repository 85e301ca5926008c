package interop.peer;

import interop.common.Options;
import interop.common.Out;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import org.apache.qpid.protonj2.buffer.ProtonBuffer;
import org.apache.qpid.protonj2.client.Message;
import org.apache.qpid.protonj2.engine.IncomingDelivery;
import org.apache.qpid.protonj2.engine.OutgoingDelivery;
import org.apache.qpid.protonj2.engine.Receiver;
import org.apache.qpid.protonj2.engine.Sender;
import org.apache.qpid.protonj2.types.messaging.Accepted;
import org.apache.qpid.protonj2.types.messaging.Source;

/**
 * {@code serve --listen}: the tutorial's server_direct. The connector's reply receiver attaches
 * first; a dynamic source is answered with an address this listener names ({@code dynamic-UUID}),
 * and the link is remembered under that address. Requests come on the connector's sender; each
 * reply (body upper-cased, correlation id copied, or the request's id) goes out on the link
 * remembered for its reply_to, once that link has credit. With --count N the role is done once
 * N replies were settled; the listener then waits (about 2 s) for the requester to close.
 */
final class ListenServe extends Listener {
    private final Map<String, Sender> senders = new HashMap<>();
    private final Map<Sender, ArrayDeque<Object[]>> pending = new HashMap<>();
    private int served;
    private int settled;

    ListenServe(Options o) {
        super(o, o.count + " replies were settled");
    }

    /** The connector's reply receiver: name a dynamic source, remember the link by its address. */
    @Override
    protected void senderOpened(Sender s) {
        Source remote = s.getRemoteSource();
        Source source = remote == null ? new Source() : remote.copy();
        if (source.isDynamic()) {
            source.setAddress("dynamic-" + UUID.randomUUID());
        }
        acceptSender(s, source, this::flush, this::outcome);
        if (source.getAddress() != null) {
            senders.put(source.getAddress(), s);
        }
        pending.put(s, new ArrayDeque<>());
    }

    /** The connector's request sender: our end receives, grants credit, accepts each request. */
    @Override
    protected void receiverOpened(Receiver r) {
        acceptReceiver(r, CREDIT, this::request);
    }

    private void request(IncomingDelivery d) {
        Receiver r = d.getLink();
        try {
            Message<Object> m = decode(d);
            out.event("message", Values.fields(m));
            reply(m);
        } catch (Exception e) {
            Out.stderr("listener: undecodable request: " + describe(e));
        }
        d.disposition(Accepted.getInstance(), true);
        topUp(r);
    }

    private void reply(Message<Object> m) throws Exception {
        String replyTo = m.replyTo();
        if (replyTo == null) {
            out.event("link_error", "condition", null, "description", "request without reply_to");
            return;
        }
        Sender s = senders.get(replyTo);
        if (s == null) {
            out.event("link_error", "condition", null, "description", "no link for " + replyTo);
            return;
        }
        Object corr = m.correlationId() != null ? m.correlationId() : m.messageId();
        String text = Values.text(m).toUpperCase(Locale.ROOT);
        Message<Object> reply = Message.create((Object) text);
        reply.to(replyTo);
        reply.correlationId(corr);
        pending.get(s).add(new Object[] {encode(reply), Values.json(corr), text, replyTo});
        flush(s);
    }

    /** Sends the replies waiting for this link's credit. */
    private void flush(Sender s) {
        ArrayDeque<Object[]> queue = pending.get(s);
        while (queue != null && !queue.isEmpty() && s.isSendable()) {
            Object[] r = queue.poll();
            OutgoingDelivery d = nextDelivery(s);
            d.setLinkedResource(r[1]);
            d.writeBytes((ProtonBuffer) r[0]);
            synchronized (lock) {
                served++;
            }
            out.event("sent", "id", r[1], "body", r[2], "to", r[3]);
        }
    }

    private void outcome(OutgoingDelivery d) {
        if (d.getRemoteState() == null && !d.isRemotelySettled() || d.isSettled()) {
            return;
        }
        d.settle();
        outcome(out, d.getRemoteState(), d.getLinkedResource());
        boolean last;
        synchronized (lock) {
            settled++;
            last = total > 0 && settled >= total && !done;
        }
        if (last) { // the requester closes once it has its replies; closing first would cut that short
            synchronized (lock) {
                done = true;
            }
        }
    }

    @Override
    public Map<String, Object> result() {
        synchronized (lock) {
            return Out.obj("served", served);
        }
    }

    @Override
    protected String roleWaitingFor() {
        synchronized (lock) {
            String of = total > 0 ? " of " + total : "";
            return "requests (served " + served + of + ")";
        }
    }
}
