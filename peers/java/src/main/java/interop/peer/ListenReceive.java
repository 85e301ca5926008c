package interop.peer;

import interop.common.Options;
import interop.common.Out;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.qpid.protonj2.engine.IncomingDelivery;
import org.apache.qpid.protonj2.engine.Receiver;
import org.apache.qpid.protonj2.types.messaging.Accepted;
import org.apache.qpid.protonj2.types.messaging.Target;
import org.apache.qpid.protonj2.types.transport.ReceiverSettleMode;

/**
 * {@code receive --listen}: the tutorial's direct_recv (credit 100, refilled at half, each
 * message accepted and settled; after the last one the receiver and the connection close).
 */
final class ListenReceive extends Listener {
    private final Set<String> seen = new HashSet<>();
    private int duplicates;

    ListenReceive(Options o) {
        super(o);
    }

    @Override
    protected boolean finished() {
        return done || total == 0;
    }

    @Override
    protected String unfinished() {
        return total + " distinct messages came";
    }

    /** The connector attached a sender: our end receives, grants credit, accepts each message. */
    @Override
    protected void receiverOpened(Receiver r) {
        r.setSource(r.getRemoteSource());
        r.setTarget((Target) r.getRemoteTarget());
        r.setReceiverSettleMode(ReceiverSettleMode.FIRST);
        r.deliveryReadHandler(this::delivery);
        r.open();
        Target target = r.getRemoteTarget();
        out.event("link_opened", "link", r.getName(), "role", "receiver",
                "address", target == null ? null : target.getAddress());
        r.addCredit(CREDIT); // the tutorial's prefetch
    }

    private void delivery(IncomingDelivery d) {
        if (d.isPartial() || d.isAborted()) {
            return;
        }
        Receiver r = d.getLink();
        Map<String, Object> fields;
        try {
            fields = Values.fields(decode(d));
        } catch (Exception e) {
            Out.stderr("listener: undecodable message: " + describe(e));
            d.disposition(Accepted.getInstance(), true);
            return;
        }
        String key = Values.key(fields.get("id"));
        boolean duplicate;
        boolean last;
        synchronized (lock) {
            duplicate = !seen.add(key);
            if (duplicate) {
                duplicates++;
            }
            last = total > 0 && seen.size() >= total && !done;
        }
        fields.put("duplicate", duplicate);
        out.event("message", fields);
        d.disposition(Accepted.getInstance(), true);
        if (last) { // direct_recv: close the receiver and the connection
            complete(r);
            return;
        }
        if (r.getCredit() < CREDIT / 2) {
            r.addCredit(CREDIT - r.getCredit());
        }
    }

    @Override
    public Map<String, Object> result() {
        synchronized (lock) {
            Map<String, Object> r = Out.obj("count", total, "received", seen.size(), "duplicates", duplicates);
            if (total > 0) {
                List<Integer> missing = new ArrayList<>();
                for (int i = 1; i <= total; i++) {
                    if (!seen.contains(String.valueOf(i))) {
                        missing.add(i);
                    }
                }
                r.put("missing", missing);
            }
            r.put("reconnects", 0);
            return r;
        }
    }

    @Override
    protected String roleWaitingFor() {
        synchronized (lock) {
            String of = total > 0 ? " of " + total : "";
            return "messages (received " + seen.size() + of + " distinct ids)";
        }
    }

    @Override
    public boolean countless() {
        return total == 0;
    }
}
