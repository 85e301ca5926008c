package interop.common;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What every Java peer does around its library: the deadline, SIGTERM/SIGINT, the result line
 * and the exit code, and the reconnect loop (a fresh connection after a lost one, backoff 0.1 s
 * doubling to 1 s). Counters are guarded by {@link #lock}; no line is printed while it is held.
 */
public abstract class PeerBase {
    public static final int OK = 0;
    public static final int FAILED = 1;
    public static final int USAGE = 2;
    public static final int TIMEOUT = 3;

    /** A problem that ends the role whatever --reconnect says (exit 1). */
    public static final class Fatal extends Exception {
        public Fatal(String message) {
            super(message);
        }
    }

    /** A step that may throw: a library call, such as settling a message or closing a connection. */
    public interface Step {
        void run() throws Exception;
    }

    /** One contract role's state: its result fields and what it waits for. */
    public interface Role {
        Map<String, Object> result();

        String waitingFor();

        /** receive/serve with --count 0: a signal is the normal end. */
        boolean countless();

        default void disconnected() {}
    }

    public final Options opts;
    public final Out out;
    public final Object lock = new Object();
    protected Role role;
    protected boolean connUp;
    protected boolean everOpened;
    protected boolean done;
    protected int reconnects;

    /** Reconnections so far (for the result). */
    public int reconnectCount() {
        synchronized (lock) {
            return reconnects;
        }
    }
    protected String lastProblem = "";
    private volatile boolean finishing;

    protected PeerBase(Options opts) {
        this.opts = opts;
        this.out = new Out(opts.quiet);
    }

    /** The names of vocabulary events the library never lets this peer observe. */
    protected abstract List<String> unreported();

    /** One connection's life: open, the role, a clean close. Returns when the role is done. */
    protected abstract void connection() throws Exception;

    /** Turns a library exception into the contract's events; returns a Fatal or the cause. */
    protected abstract Exception classify(Exception e);

    /** Starts the deadline and the signal handling (a shutdown hook: SIGTERM and SIGINT run it). */
    public void watch() {
        if (opts.timeout > 0) {
            long ms = (long) (opts.timeout * 1000);
            Thread t = new Thread(() -> {
                try {
                    Thread.sleep(ms);
                } catch (InterruptedException e) {
                    return;
                }
                finish(TIMEOUT, "timed out after " + Json.text(opts.effective().get("timeout")) + " s", waitingFor());
            }, "deadline");
            t.setDaemon(true);
            t.start();
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            boolean ok;
            synchronized (lock) {
                ok = done || role.countless();
            }
            finish(ok ? OK : FAILED, ok ? null : "terminated by a signal", null);
        }, "signal"));
    }

    public String waitingFor() {
        boolean up;
        String problem;
        synchronized (lock) {
            up = connUp;
            problem = lastProblem;
        }
        if (!up) {
            String why = problem.isEmpty() ? "" : " (last: " + problem + ")";
            return "the connection to " + opts.hostPort() + " (its AMQP open)" + why;
        }
        return role.waitingFor();
    }

    /** Prints the timeout line (if any) and the result, and ends the process; only the first call counts. */
    public void finish(int code, String error, String waitingFor) {
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("role", opts.role);
        result.put("ok", code == OK);
        if (error != null) {
            result.put("error", Out.oneLine(error));
        }
        result.putAll(role.result());
        result.put("unreported", unreported());
        result.put("options", opts.effective());
        synchronized (this) {
            if (finishing) {
                return;
            }
            finishing = true;
        }
        out.last(waitingFor, result);
        Runtime.getRuntime().halt(code); // no shutdown hooks: this is the end
    }

    /** Connects, runs the role, and reconnects after a lost connection. Never returns. */
    public void loop() {
        long backoff = 100;
        while (true) {
            try {
                connection();
                synchronized (lock) {
                    done = true;
                }
                finish(OK, null, null);
                return;
            } catch (Exception raw) {
                Exception e = raw instanceof Fatal ? raw : classify(raw);
                if (e instanceof Fatal) {
                    finish(FAILED, e.getMessage(), null);
                    return;
                }
                String reason = describe(e);
                boolean wasUp;
                synchronized (lock) {
                    wasUp = connUp;
                    connUp = false;
                    lastProblem = reason;
                }
                out.event("disconnected", "reason", reason);
                role.disconnected();
                if (!opts.reconnect) {
                    finish(FAILED, "disconnected: " + reason, null);
                    return;
                }
                if (wasUp) {
                    backoff = 100;
                }
                sleep(backoff);
                backoff = Math.min(2 * backoff, 1000);
            }
        }
    }

    /**
     * One connection's life once the library made it: {@code open} waits for the remote's open,
     * then connection_opened (neither library shows the remote's container-id), the role, done;
     * then {@code close} and connection_closed. After a failure {@code abandon} drops the
     * connection without waiting and the exception goes on to {@link #loop}.
     */
    protected void connected(Step open, Step role, Step abandon, Step close) throws Exception {
        try {
            open.run();
            opened(null);
            role.run();
            synchronized (lock) {
                done = true;
            }
        } catch (Exception e) {
            abandon.run();
            throw e;
        }
        try {
            close.run();
        } catch (Exception e) {
            // the role is done: a remote that closed first (a direct listener that got every
            // message) leaves nothing to close, and nothing to reconnect for
            Out.stderr("closing after the role was done: " + describe(e));
            return;
        }
        out.event("connection_closed");
    }

    /** Marks the connection open (counting reconnects) and prints connection_opened. */
    protected void opened(Object container) {
        synchronized (lock) {
            if (everOpened) {
                reconnects++;
            }
            everOpened = true;
            connUp = true;
            lastProblem = "";
        }
        out.event("connection_opened", "container", container);
    }

    public static String describe(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && (t.getMessage() == null || t instanceof java.util.concurrent.ExecutionException)) {
            t = t.getCause();
        }
        String text = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        return Out.oneLine(text);
    }

    public static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Runs a peer's main: options, usage errors (exit 2), then the role. */
    public interface Factory {
        PeerBase create(Options o) throws Options.UsageError;
    }

    public static void main(String[] argv, List<String> listenRoles, String noListenWhy, Factory factory) {
        Out.guardStdout();
        Options o;
        PeerBase peer;
        try {
            o = Options.parse(argv, listenRoles, noListenWhy);
            peer = factory.create(o);
        } catch (Options.Help h) {
            System.err.println(Options.USAGE);
            Runtime.getRuntime().halt(OK);
            return;
        } catch (Options.UsageError e) {
            System.err.println(Options.USAGE + " (" + Out.oneLine(e.getMessage()) + ")");
            System.err.flush();
            Runtime.getRuntime().halt(USAGE);
            return;
        }
        try {
            peer.watch();
            peer.run();
        } catch (Throwable t) {
            Out.stderr("error: internal error: " + t);
            peer.finish(FAILED, "internal error: " + t, null);
        }
    }

    /** The peer's work: by default the connect-and-reconnect loop. */
    public void run() throws Exception {
        loop();
    }
}
