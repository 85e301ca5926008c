package interop.common;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a receiving role counts (receive, receive --listen, the JMS consumer): distinct ids by
 * their JSON text (1 and "1" differ), duplicates, and with --count N the ids of 1..N that never
 * came. Guarded by the peer's lock: callers may hold it, and no line is printed under it.
 */
public final class Receipts {
    private final Object lock;
    private final int total;
    private final Set<String> seen = new HashSet<>();
    private int duplicates;

    public Receipts(Object lock, int total) {
        this.lock = lock;
        this.total = total;
    }

    /** Records a message by its id's JSON text; true when that id came before (a duplicate). */
    public boolean record(String key) {
        synchronized (lock) {
            boolean duplicate = !seen.add(key);
            if (duplicate) {
                duplicates++;
            }
            return duplicate;
        }
    }

    /** All N distinct ids of --count N came (never with --count 0: that receives until killed). */
    public boolean complete() {
        synchronized (lock) {
            return total > 0 && seen.size() >= total;
        }
    }

    /** The result's fields: count, received, duplicates, missing (with --count N), reconnects. */
    public Map<String, Object> result(int reconnects) {
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
            r.put("reconnects", reconnects);
            return r;
        }
    }

    /** "(received 3 of 10 distinct ids)", for the timeout line. */
    public String progress() {
        synchronized (lock) {
            String of = total > 0 ? " of " + total : "";
            return "(received " + seen.size() + of + " distinct ids)";
        }
    }
}
