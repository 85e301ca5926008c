package interop.common;

import interop.common.PeerBase.Fatal;
import interop.common.PeerBase.Step;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Function;

/**
 * What each connecting role keeps and reports whatever library moves its messages: counts, the
 * result's fields, what it waits for (the timeout line), the ready line. The protonj2 and Qpid
 * JMS peers subclass these with their library's {@code run}. State is guarded by the peer's lock;
 * no line is printed while it is held.
 */
public final class Roles {
    private Roles() {}

    /** The role {@code p.opts.role} names, made by that role's constructor (hello when none other). */
    public static <P extends PeerBase, R> R create(P p, Function<P, R> send, Function<P, R> receive,
            Function<P, R> serve, Function<P, R> request, Function<P, R> hello) {
        switch (p.opts.role) {
            case "send": return send.apply(p);
            case "receive": return receive.apply(p);
            case "serve": return serve.apply(p);
            case "request": return request.apply(p);
            default: return hello.apply(p);
        }
    }

    /** Base of a role: its stage (what it waits for) under the peer's lock. */
    public abstract static class Base<P extends PeerBase> implements PeerBase.Role {
        protected final P p;
        /** --count (0 where the role has none) */
        protected final int total;
        protected String stage = "";
        private boolean readyOnce;

        protected Base(P p) {
            this.p = p;
            this.total = p.opts.count;
        }

        protected void stage(String s) {
            synchronized (p.lock) {
                stage = s;
            }
        }

        @Override
        public String waitingFor() {
            synchronized (p.lock) {
                return stage;
            }
        }

        @Override
        public boolean countless() {
            return false;
        }

        /** The ready line, after the first attach only: a reconnect does not print it again. */
        protected void readyOnce() {
            boolean first;
            synchronized (p.lock) {
                first = !readyOnce;
                readyOnce = true;
            }
            if (first) {
                p.out.ready("amqp://" + p.opts.hostPort());
            }
        }
    }

    /** send: ids 1..N until the remote accepted each; what a reconnect finds unconfirmed goes again. */
    public abstract static class Send<P extends PeerBase> extends Base<P> {
        protected final Sends sends;

        protected Send(P p) {
            super(p);
            sends = new Sends(p.lock, total);
        }

        @Override
        public Map<String, Object> result() {
            return sends.result(p.reconnectCount());
        }

        @Override
        public String waitingFor() {
            synchronized (p.lock) {
                return stage + " " + sends.progress();
            }
        }
    }

    /** receive: distinct ids until --count N came (or until killed with --count 0). */
    public abstract static class Receive<P extends PeerBase> extends Base<P> {
        protected final Receipts receipts;
        /** the link, as the timeout line names it before the attach ("receiver link") */
        private final String link;
        private boolean attached;

        protected Receive(P p, String link) {
            super(p);
            this.link = link;
            receipts = new Receipts(p.lock, total);
        }

        /** The link is attached: the role now waits for messages; the ready line on the first attach. */
        protected void attached() {
            synchronized (p.lock) {
                attached = true;
            }
            readyOnce();
        }

        @Override
        public void disconnected() {
            synchronized (p.lock) {
                attached = false;
            }
        }

        @Override
        public Map<String, Object> result() {
            return receipts.result(p.reconnectCount());
        }

        @Override
        public String waitingFor() {
            synchronized (p.lock) {
                if (!attached) {
                    return "the attach of the " + link + " from " + p.opts.address;
                }
                return "messages on " + p.opts.address + " " + receipts.progress();
            }
        }

        @Override
        public boolean countless() {
            return total == 0;
        }
    }

    /** serve: answers each request (its text upper-cased) to its reply_to, --count N of them or until killed. */
    public abstract static class Serve<P extends PeerBase> extends Base<P> {
        private int served;

        protected Serve(P p) {
            super(p);
        }

        /** False once --count N requests were answered; else the stage is the next request. */
        protected boolean more() {
            synchronized (p.lock) {
                if (total > 0 && served >= total) {
                    return false;
                }
                stage = "requests on " + p.opts.address + " (served " + served + ")";
                return true;
            }
        }

        /** A reply went out. */
        protected void served() {
            synchronized (p.lock) {
                served++;
            }
        }

        /** The reply's body: the request's text upper-cased (the tutorial's server). */
        protected static String answer(String request) {
            return request.toUpperCase(Locale.ROOT);
        }

        @Override
        public Map<String, Object> result() {
            synchronized (p.lock) {
                return Out.obj("served", served);
            }
        }

        @Override
        public boolean countless() {
            return total == 0;
        }
    }

    /** request: sends each request with reply_to a dynamic address and checks each reply. */
    public abstract static class Request<P extends PeerBase> extends Base<P> {
        protected final List<String> requests;
        private final Set<Integer> answered = new HashSet<>();
        /** how the reply address came: "dynamic source" or "dynamic target" */
        private final String via;
        private String replyTo;

        protected Request(P p, String via) {
            super(p);
            this.via = via;
            requests = p.opts.requests;
        }

        /** The correlation id of request i (0-based): "request-1", ... */
        protected static String correlation(int i) {
            return "request-" + (i + 1);
        }

        /** The reply address is known; the stage moves on to {@code next}. */
        protected void replyTo(String address, String next) {
            synchronized (p.lock) {
                replyTo = address;
                stage = next;
            }
        }

        /** False when request i has its reply (a reconnect sends only the others); else the stage is {@code next}. */
        protected boolean unanswered(int i, String next) {
            synchronized (p.lock) {
                if (answered.contains(i)) {
                    return false;
                }
                stage = next;
                return true;
            }
        }

        /** False once every request has its reply; else the stage says how many came. */
        protected boolean awaitingReplies() {
            synchronized (p.lock) {
                if (answered.size() == requests.size()) {
                    return false;
                }
                stage = "replies (" + answered.size() + " of " + requests.size() + ")";
                return true;
            }
        }

        /**
         * One reply: its message event (with the request it answers), {@code settle}, then the
         * checks: a known correlation id ({@code corrText} is its JSON text) and the upper-cased
         * request as body ({@code text} reads it).
         */
        protected void reply(Object corr, String corrText, Map<String, Object> fields, Step settle,
                Callable<String> text) throws Exception {
            int index = -1;
            for (int i = 0; i < requests.size(); i++) {
                if (correlation(i).equals(corr)) {
                    index = i;
                }
            }
            if (index >= 0) {
                fields.put("request", requests.get(index));
            }
            p.out.event("message", fields);
            settle.run();
            if (index < 0) {
                throw new Fatal("reply with an unknown correlation_id: " + corrText);
            }
            String want = Serve.answer(requests.get(index));
            String got = text.call();
            if (!got.equals(want)) {
                throw new Fatal("reply to \"" + requests.get(index) + "\" was \"" + got + "\", expected \"" + want + "\"");
            }
            synchronized (p.lock) {
                answered.add(index);
            }
        }

        @Override
        public Map<String, Object> result() {
            synchronized (p.lock) {
                return Out.obj("requests", requests.size(), "replies", answered.size(), "reply_to", replyTo,
                        "reply_via", via);
            }
        }
    }

    /** hello: "Hello World!" to an address and back. */
    public abstract static class Hello<P extends PeerBase> extends Base<P> {
        public static final String BODY = "Hello World!";
        private final List<Object> received = new ArrayList<>();

        protected Hello(P p) {
            super(p);
        }

        /** The message came back with this body. */
        protected void received(Object body) {
            synchronized (p.lock) {
                received.add(body);
            }
        }

        @Override
        public Map<String, Object> result() {
            synchronized (p.lock) {
                return Out.obj("received", new ArrayList<>(received));
            }
        }
    }
}
