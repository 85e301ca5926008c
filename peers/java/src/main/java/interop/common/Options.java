package interop.common;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The command line of peers/CONTRACT.md. Every bad argument is found here, before a socket is
 * opened: {@link UsageError} becomes one stderr line, exit 2, nothing on stdout.
 */
public final class Options {
    public static final List<String> ROLES = List.of("hello", "send", "receive", "serve", "request");
    public static final List<String> DEFAULT_REQUESTS = List.of(
            "Twas brillig, and the slithy toves",
            "Did gire and gymble in the wabe.",
            "All mimsy were the borogroves,",
            "And the mome raths outgrabe.");
    public static final String USAGE = "usage: peer {hello|send|receive|serve|request} [--url URL]"
            + " [--address ADDR] [--count N] [--listen] [--reconnect|--no-reconnect]"
            + " [--timeout SECONDS] [--user U] [--password P] [--quiet] [--dynamic-capability SYMBOL]..."
            + " [REQUEST...]";
    private static final Map<String, Integer> DEFAULT_COUNT = Map.of("send", 100, "receive", 100, "serve", 0);
    private static final Pattern URL = Pattern.compile(
            "^(?:([^:@/]*)(?::([^@/]*))?@)?(\\[[0-9A-Fa-f:.]+\\]|[^:/?#@\\[\\]]+)(?::(\\d*))?(?:/(.*))?$");

    /** A bad command line: the text goes after the usage line. */
    public static final class UsageError extends Exception {
        public UsageError(String message) {
            super(message);
        }
    }

    /** --help: the usage line and exit 0. */
    public static final class Help extends Exception {}

    public String role;
    public String host;
    public int port;
    public String address = "examples";
    public int count;
    public boolean listen;
    public boolean reconnect = true;
    public double timeout;
    public String user;
    public String password;
    public boolean quiet;
    public List<String> requests;
    /** --dynamic-capability: symbols on the request role's dynamic reply terminus */
    public List<String> dynamicCapabilities = new ArrayList<>();

    /**
     * Reads argv. {@code listenRoles}: the roles this peer can do with --listen (empty: none, and
     * --listen is a usage error that says why).
     */
    public static Options parse(String[] argv, List<String> listenRoles, String noListenWhy)
            throws UsageError, Help {
        if (argv.length == 0) {
            throw new UsageError("missing role (one of " + String.join(", ", ROLES) + ")");
        }
        Options o = new Options();
        o.role = argv[0];
        if (o.role.equals("-h") || o.role.equals("--help")) {
            throw new Help();
        }
        if (!ROLES.contains(o.role)) {
            throw new UsageError("unknown role: " + o.role);
        }
        String urlText = "amqp://127.0.0.1:5672";
        String address = null;
        String user = null;
        String password = null;
        Integer count = null;
        Double timeout = null;
        List<String> positional = new ArrayList<>();
        for (int i = 1; i < argv.length; i++) {
            String arg = argv[i];
            if (arg.equals("--")) {
                for (int j = i + 1; j < argv.length; j++) {
                    positional.add(argv[j]);
                }
                break;
            }
            if (!arg.startsWith("--")) {
                if (arg.startsWith("-") && !arg.equals("-")) {
                    throw new UsageError("unknown option: " + arg);
                }
                positional.add(arg);
                continue;
            }
            int eq = arg.indexOf('=');
            String name = eq < 0 ? arg : arg.substring(0, eq);
            String inline = eq < 0 ? null : arg.substring(eq + 1);
            switch (name) {
                case "--url":
                case "--address":
                case "--count":
                case "--timeout":
                case "--user":
                case "--password":
                case "--dynamic-capability": {
                    String value = inline;
                    if (value == null) {
                        if (i + 1 >= argv.length) {
                            throw new UsageError("option " + name + " needs a value");
                        }
                        value = argv[++i];
                    }
                    if (name.equals("--url")) {
                        urlText = value;
                    } else if (name.equals("--address")) {
                        if (value.isEmpty()) {
                            throw new UsageError("--address must not be empty");
                        }
                        address = value;
                    } else if (name.equals("--count")) {
                        count = parseCount(value);
                    } else if (name.equals("--timeout")) {
                        timeout = parseTimeout(value);
                    } else if (name.equals("--dynamic-capability")) {
                        if (value.isEmpty()) {
                            throw new UsageError("--dynamic-capability must not be empty");
                        }
                        o.dynamicCapabilities.add(value);
                    } else if (name.equals("--user")) {
                        user = value;
                    } else {
                        password = value;
                    }
                    break;
                }
                case "--listen":
                case "--reconnect":
                case "--no-reconnect":
                case "--quiet":
                    if (inline != null) {
                        throw new UsageError("option " + name + " takes no value");
                    }
                    if (name.equals("--listen")) {
                        o.listen = true;
                    } else if (name.equals("--quiet")) {
                        o.quiet = true;
                    } else {
                        o.reconnect = name.equals("--reconnect");
                    }
                    break;
                case "--help":
                    throw new Help();
                default:
                    throw new UsageError("unknown option: " + name);
            }
        }
        if (o.listen && !listenRoles.contains(o.role)) {
            throw new UsageError(listenRoles.isEmpty()
                    ? "--listen is not supported: " + noListenWhy
                    : "--listen is supported for " + String.join(", ", listenRoles) + ", not " + o.role);
        }
        if (!positional.isEmpty() && !o.role.equals("request")) {
            throw new UsageError("unexpected argument for " + o.role + ": " + positional.get(0));
        }
        o.count = count != null ? count : DEFAULT_COUNT.getOrDefault(o.role, 0);
        if (o.role.equals("send") && o.count < 1) {
            throw new UsageError("send needs --count of at least 1");
        }
        if (timeout != null) {
            o.timeout = timeout;
        } else {
            boolean untilKilled = (o.role.equals("receive") || o.role.equals("serve")) && o.count == 0;
            o.timeout = untilKilled ? 0 : 30;
        }
        o.readUrl(urlText);
        if (address != null) {
            o.address = address;
        }
        if (user != null) {
            o.user = user;
        }
        if (password != null) {
            o.password = password;
        }
        if (o.password != null && o.user == null) {
            throw new UsageError("--password needs --user");
        }
        if (o.role.equals("request")) {
            o.requests = positional.isEmpty() ? DEFAULT_REQUESTS : positional;
        }
        return o;
    }

    private static int parseCount(String v) throws UsageError {
        try {
            int n = Integer.parseInt(v);
            if (n >= 0 && v.trim().equals(v)) {
                return n;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new UsageError("--count needs a non-negative integer, got " + v);
    }

    private static double parseTimeout(String v) throws UsageError {
        try {
            double t = Double.parseDouble(v.trim());
            if (t >= 0 && t <= 1e9 && !Double.isNaN(t)) {
                return t;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new UsageError("--timeout needs a number of seconds (0: no deadline), got " + v);
    }

    private void readUrl(String text) throws UsageError {
        String rest = text;
        int sep = rest.indexOf("://");
        if (sep >= 0) {
            String scheme = rest.substring(0, sep);
            if (!scheme.equalsIgnoreCase("amqp")) {
                throw new UsageError("unsupported URL scheme \"" + scheme + "\" in " + text + " (only amqp)");
            }
            rest = rest.substring(sep + 3);
        }
        Matcher m = URL.matcher(rest);
        if (!m.matches()) {
            throw new UsageError("bad URL: " + text);
        }
        host = m.group(3).replace("[", "").replace("]", "");
        port = 5672;
        if (m.group(4) != null && !m.group(4).isEmpty()) {
            try {
                port = Integer.parseInt(m.group(4));
            } catch (NumberFormatException e) {
                port = 70000;
            }
            if (port > 65535) {
                throw new UsageError("bad port in URL: " + text);
            }
        }
        if (port == 0 && !listen) {
            throw new UsageError("port 0 needs --listen: " + text);
        }
        user = decode(m.group(1), text);
        password = decode(m.group(2), text);
        String path = decode(m.group(5), text);
        if (path != null) {
            address = path;
        }
    }

    private static String decode(String s, String text) throws UsageError {
        if (s == null || s.isEmpty()) {
            return null;
        }
        try {
            return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new UsageError("bad escape in URL: " + text);
        }
    }

    /** host:port as it goes in a URL (IPv6 in brackets). */
    public String hostPort() {
        String h = host.contains(":") ? "[" + host + "]" : host;
        return h + ":" + port;
    }

    /** The result's {@code options} object: the values this run uses, after the defaults. */
    public Map<String, Object> effective() {
        Object timeoutValue = timeout == Math.rint(timeout) ? (Object) (long) timeout : (Object) timeout;
        return Out.obj(
                "url", "amqp://" + hostPort(),
                "address", address,
                "count", DEFAULT_COUNT.containsKey(role) ? count : null,
                "listen", listen,
                "reconnect", reconnect,
                "timeout", timeoutValue,
                "user", user,
                "password", password != null ? "***" : null,
                "quiet", quiet,
                "requests", role.equals("request") ? requests : null,
                "dynamic_capabilities", new ArrayList<>(dynamicCapabilities));
    }
}
