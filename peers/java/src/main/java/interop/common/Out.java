package interop.common;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The contract's JSON Lines on stdout: one object per line, one write and flush per line, the
 * result last. System.out is pointed at stderr at start-up so that nothing a library prints can
 * ever reach the harness as a line of the contract.
 */
public final class Out {
    private static final Set<String> PER_MESSAGE =
            Set.of("sent", "accepted", "message", "settled", "sendable");
    private final OutputStream stdout;
    private final boolean quiet;
    private boolean finished;

    public Out(boolean quiet) {
        this.stdout = new FileOutputStream(FileDescriptor.out);
        this.quiet = quiet;
    }

    /** Makes System.out an alias of System.err: only this class writes to the real stdout. */
    public static void guardStdout() {
        System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8));
    }

    /** An ordered JSON object from alternating keys and values. */
    public static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    private void write(Map<String, Object> line) {
        byte[] data = (Json.text(line) + "\n").getBytes(StandardCharsets.UTF_8);
        try {
            stdout.write(data);
            stdout.flush();
        } catch (IOException e) {
            Runtime.getRuntime().halt(1); // stdout is gone: nobody reads the contract lines any more
        }
    }

    /** One line, unless the result is already out. */
    public synchronized void line(Map<String, Object> line) {
        if (!finished) {
            write(line);
        }
    }

    /** An event line: {@code kind event, name}, then the fields (alternating keys and values). */
    public void event(String name, Object... fields) {
        if (quiet && PER_MESSAGE.contains(name)) {
            return;
        }
        Map<String, Object> line = obj("kind", "event", "name", name);
        line.putAll(obj(fields));
        line(line);
    }

    /** An event line with the fields of a map (message events). */
    public void event(String name, Map<String, Object> fields) {
        if (quiet && PER_MESSAGE.contains(name)) {
            return;
        }
        Map<String, Object> line = obj("kind", "event", "name", name);
        line.putAll(fields);
        line(line);
    }

    public void ready(String url) {
        line(obj("kind", "ready", "url", url));
    }

    /** The timeout line (when waitingFor is set) and the result; no line after these. */
    public synchronized boolean last(String waitingFor, Map<String, Object> result) {
        if (finished) {
            return false;
        }
        if (waitingFor != null) {
            write(obj("kind", "timeout", "waiting_for", waitingFor));
        }
        Map<String, Object> line = obj("kind", "result");
        line.putAll(result);
        write(line);
        finished = true;
        return true;
    }

    /** Text on one line (for stderr and error fields). */
    public static String oneLine(String text) {
        return text == null ? "" : String.join(" ", text.trim().split("\\s+"));
    }

    public static void stderr(String text) {
        System.err.println(oneLine(text));
        System.err.flush();
    }
}
