package interop.peer;

import interop.common.Json;
import interop.common.Out;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.qpid.protonj2.client.DeliveryState;
import org.apache.qpid.protonj2.client.Message;
import org.apache.qpid.protonj2.types.Binary;

/** protonj2 values and messages as the contract's JSON, and delivery outcomes as events. */
final class Values {
    private static final Set<String> OUTCOMES = Set.of("accepted", "released", "modified", "rejected");

    private Values() {}

    static Object json(Object v) {
        if (v instanceof Binary) {
            return Json.hex(((Binary) v).asByteArray());
        }
        if (v instanceof Map) {
            Map<String, Object> m = new java.util.TreeMap<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                m.put(String.valueOf(json(e.getKey())), json(e.getValue()));
            }
            return m;
        }
        if (v instanceof List) {
            List<Object> out = new ArrayList<>();
            for (Object x : (List<?>) v) {
                out.add(json(x));
            }
            return out;
        }
        if (v instanceof Number || v instanceof Boolean || v instanceof String || v == null || v instanceof byte[]) {
            return v;
        }
        return v.toString(); // Symbol, UUID, UnsignedLong...: their text
    }

    /** The id's JSON text: how ids are remembered (1 and "1" differ). */
    static String key(Object id) {
        return Json.text(json(id));
    }

    /** A message event's fields: id, body, and reply_to, correlation_id, to when set. */
    static Map<String, Object> fields(Message<Object> m) throws Exception {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("id", json(m.messageId()));
        f.put("body", json(m.body()));
        if (m.replyTo() != null) {
            f.put("reply_to", m.replyTo());
        }
        if (m.correlationId() != null) {
            f.put("correlation_id", json(m.correlationId()));
        }
        if (m.to() != null) {
            f.put("to", m.to());
        }
        return f;
    }

    static String text(Message<Object> m) throws Exception {
        Object body = m.body();
        if (body instanceof byte[]) {
            return new String((byte[]) body, java.nio.charset.StandardCharsets.UTF_8);
        }
        if (body instanceof Binary) {
            return new String(((Binary) body).asByteArray(), java.nio.charset.StandardCharsets.UTF_8);
        }
        return body instanceof String ? (String) body : Json.text(json(body));
    }

    /** Prints the outcome events of a settled delivery; returns the outcome's name. */
    static String outcome(Out out, DeliveryState state, Object id) {
        return report(out, state == null ? null : state.getType(), id);
    }

    /**
     * Prints an outcome's event and then settled; returns the outcome's name: accepted, released,
     * modified, rejected, or settled for none of these. {@code type} is the client's or the
     * engine's delivery-state enum (ACCEPTED or Accepted).
     */
    static String report(Out out, Enum<?> type, Object id) {
        String name = type == null ? "settled" : type.name().toLowerCase(Locale.ROOT);
        if (!OUTCOMES.contains(name)) {
            name = "settled";
        }
        if (!name.equals("settled")) {
            out.event(name, "id", id);
        }
        out.event("settled", "id", id);
        return name;
    }
}
