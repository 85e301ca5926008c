package interop.peer;

import interop.common.Options;
import interop.common.Sends;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;
import org.apache.qpid.protonj2.client.Message;
import org.apache.qpid.protonj2.engine.OutgoingDelivery;
import org.apache.qpid.protonj2.engine.Sender;
import org.apache.qpid.protonj2.types.UnsignedLong;
import org.apache.qpid.protonj2.types.transport.DeliveryState;

/**
 * {@code send --listen}: the tutorial's direct_send. The connector attaches a receiver; on the
 * link it attached this listener sends ids 1..N (body {"sequence": i}, durable) while it has
 * credit, counts the accepted ones, sends released or modified ones again, and closes the link
 * and the connection once all N are confirmed.
 */
final class ListenSend extends Listener {
    private final Sends sends;
    private final TreeSet<Integer> retry = new TreeSet<>();
    private final Map<OutgoingDelivery, Integer> inFlight = new HashMap<>();
    private int nextId = 1;
    private Sender sender;

    ListenSend(Options o) {
        super(o, o.count + " messages were confirmed");
        sends = new Sends(lock, total);
    }

    /** The connector attached a receiver: our end sends on it. */
    @Override
    protected void senderOpened(Sender s) {
        if (sender != null) { // one link carries the role; a second is refused
            super.senderOpened(s);
            return;
        }
        sender = s;
        acceptSender(s, s.getRemoteSource(), this::credit, this::outcome);
        if (total == 0) {
            complete(s);
        }
    }

    private void credit(Sender s) {
        if (s.getCredit() > 0) {
            out.event("sendable", "link", s.getName(), "credit", s.getCredit());
        }
        pump(s);
        if (s.isDraining()) {
            // 2.6.7: a receiver that drains (Qpid JMS does, when a receive waits) is owed a flow
            // saying the credit is used up; without it the receiver waits for good
            s.drained();
        }
    }

    /** Sends while there is credit: released ids first, then new ones. */
    private void pump(Sender s) {
        while (s.isSendable()) {
            int id;
            synchronized (lock) {
                if (!retry.isEmpty()) {
                    id = retry.pollFirst();
                } else if (nextId <= total) {
                    id = nextId++;
                } else {
                    return;
                }
                if (sends.isConfirmed(id)) {
                    continue;
                }
                sends.sent(id); // a retried id went before: a resend
            }
            Message<Map<String, Object>> m = Message.create(Map.of("sequence", (Object) (long) id));
            try {
                m.durable(true);
                m.messageId(UnsignedLong.valueOf(id));
                OutgoingDelivery d = nextDelivery(s);
                synchronized (lock) {
                    inFlight.put(d, id);
                }
                d.writeBytes(encode(m));
            } catch (Exception e) {
                finish(FAILED, "encoding message " + id + ": " + describe(e), null);
                return;
            }
            out.event("sent", "id", id);
        }
    }

    /** The connector's disposition: accepted confirms; released and modified are sent again. */
    private void outcome(OutgoingDelivery d) {
        DeliveryState state = d.getRemoteState();
        Integer id;
        synchronized (lock) {
            id = inFlight.get(d);
        }
        if (id == null || state == null && !d.isRemotelySettled()) {
            return;
        }
        if (!d.isSettled()) {
            d.settle();
        }
        synchronized (lock) {
            inFlight.remove(d);
        }
        String name = outcome(out, state, id);
        boolean last = false;
        synchronized (lock) {
            if (name.equals("accepted")) {
                sends.confirm(id);
                last = sends.allConfirmed() && !done;
            } else if (name.equals("released") || name.equals("modified")) {
                retry.add(id);
            }
        }
        if (last) {
            complete(d.getLink());
        } else if (!name.equals("accepted")) {
            pump(d.getLink());
        }
    }

    @Override
    public Map<String, Object> result() {
        return sends.result(0);
    }

    @Override
    protected String roleWaitingFor() {
        synchronized (lock) {
            if (sender == null) {
                return "the connector's receiver on " + opts.address;
            }
            return "confirmation " + sends.progress();
        }
    }
}
