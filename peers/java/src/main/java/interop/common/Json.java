package interop.common;

import java.util.Collection;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;

/** JSON text of the contract's values (peers/CONTRACT.md): maps as objects, binary as hex. */
public final class Json {
    private Json() {}

    /** The JSON text of {@code value}; keys of a {@link java.util.LinkedHashMap} keep their order. */
    public static String text(Object value) {
        StringBuilder b = new StringBuilder();
        write(b, value);
        return b.toString();
    }

    private static void write(StringBuilder b, Object v) {
        if (v == null) {
            b.append("null");
        } else if (v instanceof Boolean) {
            b.append(v);
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                string(b, String.valueOf(d));
            } else {
                b.append(d);
            }
        } else if (v instanceof Number) {
            b.append(v);
        } else if (v instanceof Character) {
            string(b, v.toString());
        } else if (v instanceof Map) {
            b.append('{');
            boolean first = true;
            Map<?, ?> m = (Map<?, ?>) v;
            Map<?, ?> ordered = m instanceof java.util.LinkedHashMap ? m : sortedByKey(m);
            for (Map.Entry<?, ?> e : ordered.entrySet()) {
                if (!first) {
                    b.append(", ");
                }
                first = false;
                string(b, keyText(e.getKey()));
                b.append(": ");
                write(b, e.getValue());
            }
            b.append('}');
        } else if (v instanceof Collection || v instanceof Object[]) {
            Iterable<?> items =
                    v instanceof Object[] ? java.util.Arrays.asList((Object[]) v) : (Collection<?>) v;
            b.append('[');
            boolean first = true;
            for (Object item : items) {
                if (!first) {
                    b.append(", ");
                }
                first = false;
                write(b, item);
            }
            b.append(']');
        } else if (v instanceof byte[]) {
            string(b, hex((byte[]) v));
        } else if (v instanceof UUID) {
            string(b, v.toString());
        } else {
            string(b, v.toString());
        }
    }

    private static Map<String, Object> sortedByKey(Map<?, ?> m) {
        Map<String, Object> out = new TreeMap<>();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            out.put(keyText(e.getKey()), e.getValue());
        }
        return out;
    }

    private static String keyText(Object key) {
        if (key instanceof byte[]) {
            return hex((byte[]) key);
        }
        return String.valueOf(key);
    }

    /** Lower-case hex of the bytes (the contract's binary). */
    public static String hex(byte[] data) {
        StringBuilder b = new StringBuilder(data.length * 2);
        for (byte x : data) {
            b.append(Character.forDigit((x >> 4) & 0xF, 16)).append(Character.forDigit(x & 0xF, 16));
        }
        return b.toString();
    }

    private static void string(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        b.append('"');
    }
}
