package interop.common;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a sending role counts (send, send --listen, the JMS producer): ids 1..N, each transfer
 * (a second transfer of an id is a resend, after a reconnect or a released/modified outcome) and
 * the ids the remote accepted. Guarded by the peer's lock: callers may hold it, and no line is
 * printed under it.
 */
public final class Sends {
    private final Object lock;
    private final int total;
    private final Set<Integer> confirmed = new HashSet<>();
    private final Set<Integer> everSent = new HashSet<>();
    private int sent;
    private int resent;

    public Sends(Object lock, int total) {
        this.lock = lock;
        this.total = total;
    }

    /** The ids of 1..N not accepted yet, in order: what a (re)connected sender sends. */
    public List<Integer> unconfirmed() {
        synchronized (lock) {
            List<Integer> ids = new ArrayList<>();
            for (int id = 1; id <= total; id++) {
                if (!confirmed.contains(id)) {
                    ids.add(id);
                }
            }
            return ids;
        }
    }

    /** Counts a transfer of {@code id}; one of an id that went before is a resend. */
    public void sent(int id) {
        synchronized (lock) {
            sent++;
            if (!everSent.add(id)) {
                resent++;
            }
        }
    }

    /** The remote accepted {@code id}. */
    public void confirm(int id) {
        synchronized (lock) {
            confirmed.add(id);
        }
    }

    public boolean isConfirmed(int id) {
        synchronized (lock) {
            return confirmed.contains(id);
        }
    }

    public int confirmed() {
        synchronized (lock) {
            return confirmed.size();
        }
    }

    /** Every id of 1..N was accepted: the role is done. */
    public boolean allConfirmed() {
        synchronized (lock) {
            return confirmed.size() >= total;
        }
    }

    /** The result's fields: count, sent, confirmed, resent, reconnects. */
    public Map<String, Object> result(int reconnects) {
        synchronized (lock) {
            return Out.obj("count", total, "sent", sent, "confirmed", confirmed.size(),
                    "resent", resent, "reconnects", reconnects);
        }
    }

    /** "(confirmed 3 of 10)", for the timeout line. */
    public String progress() {
        synchronized (lock) {
            return "(confirmed " + confirmed.size() + " of " + total + ")";
        }
    }
}
