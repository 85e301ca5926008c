package interop.peer;

import interop.common.Options;
import interop.common.Out;
import interop.common.Receipts;
import java.util.Map;
import org.apache.qpid.protonj2.engine.IncomingDelivery;
import org.apache.qpid.protonj2.engine.Receiver;
import org.apache.qpid.protonj2.types.messaging.Accepted;

/**
 * {@code receive --listen}: the tutorial's direct_recv (credit 100, refilled at half, each
 * message accepted and settled; after the last one the receiver and the connection close).
 */
final class ListenReceive extends Listener {
    private final Receipts receipts;

    ListenReceive(Options o) {
        super(o, o.count + " distinct messages came");
        receipts = new Receipts(lock, total);
    }

    /** The connector attached a sender: our end receives, grants credit, accepts each message. */
    @Override
    protected void receiverOpened(Receiver r) {
        acceptReceiver(r, CREDIT, this::delivery); // the tutorial's prefetch
    }

    private void delivery(IncomingDelivery d) {
        Receiver r = d.getLink();
        Map<String, Object> fields;
        try {
            fields = Values.fields(decode(d));
        } catch (Exception e) {
            Out.stderr("listener: undecodable message: " + describe(e));
            d.disposition(Accepted.getInstance(), true);
            return;
        }
        boolean duplicate = receipts.record(Values.key(fields.get("id")));
        boolean last;
        synchronized (lock) {
            last = receipts.complete() && !done;
        }
        fields.put("duplicate", duplicate);
        out.event("message", fields);
        d.disposition(Accepted.getInstance(), true);
        if (last) { // direct_recv: close the receiver and the connection
            complete(r);
            return;
        }
        topUp(r);
    }

    @Override
    public Map<String, Object> result() {
        return receipts.result(0);
    }

    @Override
    protected String roleWaitingFor() {
        return "messages " + receipts.progress();
    }
}
