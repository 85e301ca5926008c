package interop.jms;

import interop.common.Json;
import interop.common.Out;
import interop.common.PeerBase.Fatal;
import jakarta.jms.BytesMessage;
import jakarta.jms.DeliveryMode;
import jakarta.jms.Destination;
import jakarta.jms.MapMessage;
import jakarta.jms.Message;
import jakarta.jms.MessageConsumer;
import jakarta.jms.MessageProducer;
import jakarta.jms.Queue;
import jakarta.jms.Session;
import jakarta.jms.TemporaryQueue;
import jakarta.jms.TextMessage;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/** The contract's roles in plain JMS: producers, consumers, acknowledge(), a temporary queue. */
final class JmsRoles {
    /** how long one receive() waits before the peer looks at the connection again */
    static final long POLL_MS = 200;

    private JmsRoles() {}

    static JmsRole create(JmsPeer p) {
        switch (p.opts.role) {
            case "send": return new Send(p);
            case "receive": return new Receive(p);
            case "serve": return new Serve(p);
            case "request": return new Request(p);
            default: return new Hello(p);
        }
    }

    static String name(Destination d) throws Exception {
        if (d instanceof Queue) {
            return ((Queue) d).getQueueName();
        }
        return d == null ? null : d.toString();
    }

    /** JMS names no links: link_opened carries the role and the address only. */
    static void linkOpened(JmsPeer p, String role, String address) {
        p.out.event("link_opened", "link", null, "role", role, "address", address);
    }

    /** The next message, waiting in short steps so that a lost connection is noticed. */
    static Message next(JmsPeer p, MessageConsumer consumer) throws Exception {
        while (true) {
            p.check();
            Message m = consumer.receive(POLL_MS);
            if (m != null) {
                return m;
            }
        }
    }

    static Object body(Message m) throws Exception {
        if (m instanceof TextMessage) {
            return ((TextMessage) m).getText();
        }
        if (m instanceof MapMessage) {
            MapMessage mm = (MapMessage) m;
            Map<String, Object> out = new TreeMap<>();
            for (Enumeration<?> e = mm.getMapNames(); e.hasMoreElements();) {
                String k = (String) e.nextElement();
                Object v = mm.getObject(k);
                out.put(k, v instanceof byte[] ? Json.hex((byte[]) v) : v);
            }
            return out;
        }
        if (m instanceof BytesMessage) {
            BytesMessage b = (BytesMessage) m;
            byte[] data = new byte[(int) b.getBodyLength()];
            b.readBytes(data);
            return Json.hex(data);
        }
        Object o = m.getBody(Object.class);
        return o == null ? null : o.toString();
    }

    static String text(Message m) throws Exception {
        Object b = body(m);
        return b instanceof String ? (String) b : Json.text(b);
    }

    /** A message event's fields: id, body, and reply_to, correlation_id, to when set. */
    static Map<String, Object> fields(Message m) throws Exception {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("id", Ids.json(m.getJMSMessageID()));
        f.put("body", body(m));
        if (m.getJMSReplyTo() != null) {
            f.put("reply_to", name(m.getJMSReplyTo()));
        }
        if (m.getJMSCorrelationID() != null) {
            f.put("correlation_id", Ids.json(m.getJMSCorrelationID()));
        }
        if (m.getJMSDestination() != null) {
            f.put("to", name(m.getJMSDestination()));
        }
        return f;
    }

    static void closeAll(AutoCloseable... things) {
        for (AutoCloseable c : things) {
            try {
                c.close();
            } catch (Exception e) {
                Out.stderr("closing: " + JmsPeer.describe(e));
            }
        }
    }

    abstract static class Base implements JmsRole {
        final JmsPeer p;
        String stage = "";

        Base(JmsPeer p) {
            this.p = p;
        }

        void stage(String s) {
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
    }

    // ------------------------------------------------------------------ send

    static final class Send extends Base {
        final int total;
        final Set<Integer> confirmed = new HashSet<>();
        final Set<Integer> everSent = new HashSet<>();
        /** held from send() to the "sent" line, so that "accepted" comes after it */
        final Object sending = new Object();
        int sent;
        int resent;

        Send(JmsPeer p) {
            super(p);
            total = p.opts.count;
        }

        @Override
        public void run(Session session) throws Exception {
            stage("the attach of the producer's link to " + p.opts.address);
            MessageProducer producer = session.createProducer(session.createQueue(p.opts.address));
            producer.setDeliveryMode(DeliveryMode.PERSISTENT); // durable, and its outcome awaited
            linkOpened(p, "sender", p.opts.address);
            // JMS 2 asynchronous sends: send() hands the message over, a CompletionListener hears
            // that the remote accepted it (or that it did not: an exception, outcome unnamed)
            java.util.concurrent.BlockingQueue<Integer> again = new java.util.concurrent.LinkedBlockingQueue<>();
            List<Integer> queue = new ArrayList<>();
            synchronized (p.lock) {
                for (int id = 1; id <= total; id++) {
                    if (!confirmed.contains(id)) {
                        queue.add(id);
                    }
                }
            }
            while (true) {
                p.check();
                synchronized (p.lock) {
                    if (confirmed.size() == total) {
                        break;
                    }
                }
                Integer id = queue.isEmpty() ? again.poll(JmsRoles.POLL_MS, java.util.concurrent.TimeUnit.MILLISECONDS)
                        : queue.remove(0);
                if (id == null) {
                    stage("accepted outcomes (CompletionListener)");
                    continue;
                }
                stage("credit for message " + id + " (JMS send() waits for it inside the library)");
                MapMessage m = session.createMapMessage();
                m.setLong("sequence", id);
                synchronized (p.lock) {
                    sent++;
                    if (!everSent.add(id)) {
                        resent++;
                    }
                }
                synchronized (sending) {
                    p.ids.next((long) id);
                    producer.send(m, new jakarta.jms.CompletionListener() {
                        @Override
                        public void onCompletion(Message message) {
                            synchronized (sending) { // after the "sent" line of the same message
                                p.out.event("accepted", "id", id);
                            }
                            synchronized (p.lock) {
                                confirmed.add(id);
                            }
                        }

                        @Override
                        public void onException(Message message, Exception e) {
                            Out.stderr("jms: message " + id + " not accepted: " + JmsPeer.describe(e));
                            if (p.lost.get() == null) {
                                again.add(id); // not delivered: at-least-once sends it again
                            }
                        }
                    });
                    p.out.event("sent", "id", id);
                }
            }
            closeAll(producer);
        }

        @Override
        public Map<String, Object> result() {
            synchronized (p.lock) {
                return Out.obj("count", total, "sent", sent, "confirmed", confirmed.size(),
                        "resent", resent, "reconnects", p.reconnectCount());
            }
        }

        @Override
        public String waitingFor() {
            synchronized (p.lock) {
                return stage + " (confirmed " + confirmed.size() + " of " + total + ")";
            }
        }
    }

    // --------------------------------------------------------------- receive

    static final class Receive extends Base {
        final int total;
        final Set<String> seen = new HashSet<>();
        int duplicates;
        boolean readyOnce;
        boolean attached;

        Receive(JmsPeer p) {
            super(p);
            total = p.opts.count;
        }

        @Override
        public void run(Session session) throws Exception {
            MessageConsumer consumer = session.createConsumer(session.createQueue(p.opts.address));
            linkOpened(p, "receiver", p.opts.address);
            boolean first;
            synchronized (p.lock) {
                first = !readyOnce;
                readyOnce = true;
                attached = true;
            }
            if (first) {
                p.out.ready("amqp://" + p.opts.hostPort());
            }
            while (true) {
                Message m = next(p, consumer);
                Map<String, Object> f = fields(m);
                String key = Json.text(f.get("id"));
                boolean duplicate;
                boolean finished;
                synchronized (p.lock) {
                    duplicate = !seen.add(key);
                    if (duplicate) {
                        duplicates++;
                    }
                    finished = total > 0 && seen.size() >= total;
                }
                f.put("duplicate", duplicate);
                p.out.event("message", f);
                m.acknowledge(); // CLIENT_ACKNOWLEDGE: the accepted disposition
                if (finished) {
                    closeAll(consumer);
                    return;
                }
            }
        }

        @Override
        public void disconnected() {
            synchronized (p.lock) {
                attached = false;
            }
        }

        @Override
        public Map<String, Object> result() {
            synchronized (p.lock) {
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
                r.put("reconnects", p.reconnectCount());
                return r;
            }
        }

        @Override
        public String waitingFor() {
            synchronized (p.lock) {
                if (!attached) {
                    return "the attach of the consumer's link from " + p.opts.address;
                }
                String of = total > 0 ? " of " + total : "";
                return "messages on " + p.opts.address + " (received " + seen.size() + of + " distinct ids)";
            }
        }

        @Override
        public boolean countless() {
            return total == 0;
        }
    }

    // ----------------------------------------------------------------- serve

    static final class Serve extends Base {
        final int total;
        int served;
        boolean readyOnce;

        Serve(JmsPeer p) {
            super(p);
            total = p.opts.count;
        }

        @Override
        public void run(Session session) throws Exception {
            stage("the attach of the request consumer's link from " + p.opts.address);
            MessageConsumer consumer = session.createConsumer(session.createQueue(p.opts.address));
            linkOpened(p, "receiver", p.opts.address);
            boolean first;
            synchronized (p.lock) {
                first = !readyOnce;
                readyOnce = true;
            }
            if (first) {
                p.out.ready("amqp://" + p.opts.hostPort());
            }
            // an anonymous producer: Qpid JMS uses ANONYMOUS-RELAY when the remote offers it,
            // else a link per destination (it does not say which)
            MessageProducer producer = session.createProducer(null);
            producer.setDeliveryMode(DeliveryMode.NON_PERSISTENT);
            while (true) {
                synchronized (p.lock) {
                    if (total > 0 && served >= total) {
                        break;
                    }
                    stage = "requests on " + p.opts.address + " (served " + served + ")";
                }
                Message m = next(p, consumer);
                p.out.event("message", fields(m));
                Destination replyTo = m.getJMSReplyTo();
                if (replyTo == null) {
                    Out.stderr("serve: request without reply_to ignored");
                    m.acknowledge();
                    continue;
                }
                String corr = m.getJMSCorrelationID() != null ? m.getJMSCorrelationID() : m.getJMSMessageID();
                String text = text(m).toUpperCase(Locale.ROOT);
                TextMessage reply = session.createTextMessage(text);
                reply.setJMSCorrelationID(corr);
                stage("a reply to " + name(replyTo) + " (JMS send() waits for credit)");
                p.ids.next(null);
                producer.send(replyTo, reply);
                synchronized (p.lock) {
                    served++;
                }
                p.out.event("sent", "id", null, "body", text, "to", name(replyTo), "correlation_id", Ids.json(corr));
                m.acknowledge();
            }
            closeAll(producer, consumer);
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

    // --------------------------------------------------------------- request

    static final class Request extends Base {
        final List<String> requests;
        final Set<Integer> answered = new HashSet<>();
        String replyTo;

        Request(JmsPeer p) {
            super(p);
            requests = p.opts.requests;
        }

        static String correlation(int i) {
            return "request-" + (i + 1);
        }

        @Override
        public void run(Session session) throws Exception {
            // JMS's way to a reply address: a temporary queue, i.e. a sender link whose target
            // is dynamic (AMQP 1.0 3.5.4); the broker's attach answer names the address
            stage("the attach of the temporary queue's link (a dynamic target: its address)");
            TemporaryQueue tmp = session.createTemporaryQueue();
            String address = tmp.getQueueName();
            linkOpened(p, "sender", address);
            if (address == null || address.isEmpty()) {
                throw new Fatal("the temporary queue was created without an address");
            }
            synchronized (p.lock) {
                replyTo = address;
                stage = "the attach of the reply consumer's link from " + address;
            }
            MessageConsumer replies = session.createConsumer(tmp);
            linkOpened(p, "receiver", address);
            stage("the attach of the request producer's link to " + p.opts.address);
            MessageProducer producer = session.createProducer(session.createQueue(p.opts.address));
            linkOpened(p, "sender", p.opts.address);
            for (int i = 0; i < requests.size(); i++) {
                synchronized (p.lock) {
                    if (answered.contains(i)) {
                        continue;
                    }
                    stage = "the outcome of request " + (i + 1) + " (JMS send() waits for credit and outcome)";
                }
                TextMessage m = session.createTextMessage(requests.get(i));
                m.setJMSReplyTo(tmp);
                m.setJMSCorrelationID(correlation(i));
                p.ids.next((long) i + 1);
                producer.send(m);
                p.out.event("sent", "id", i + 1, "body", requests.get(i), "correlation_id", correlation(i));
                p.out.event("accepted", "id", i + 1);
            }
            while (true) {
                synchronized (p.lock) {
                    if (answered.size() == requests.size()) {
                        break;
                    }
                    stage = "replies (" + answered.size() + " of " + requests.size() + ")";
                }
                Message m = next(p, replies);
                String corr = m.getJMSCorrelationID();
                int index = -1;
                for (int i = 0; i < requests.size(); i++) {
                    if (correlation(i).equals(corr)) {
                        index = i;
                    }
                }
                Map<String, Object> f = fields(m);
                if (index < 0) {
                    p.out.event("message", f);
                    m.acknowledge();
                    throw new Fatal("reply with an unknown correlation_id: " + Json.text(Ids.json(corr)));
                }
                f.put("request", requests.get(index));
                p.out.event("message", f);
                m.acknowledge();
                String want = requests.get(index).toUpperCase(Locale.ROOT);
                String got = text(m);
                if (!got.equals(want)) {
                    throw new Fatal("reply to \"" + requests.get(index) + "\" was \"" + got + "\", expected \"" + want + "\"");
                }
                synchronized (p.lock) {
                    answered.add(index);
                }
            }
            closeAll(producer, replies);
            tmp.delete();
        }

        @Override
        public Map<String, Object> result() {
            synchronized (p.lock) {
                return Out.obj("requests", requests.size(), "replies", answered.size(), "reply_to", replyTo,
                        "reply_via", "dynamic target");
            }
        }
    }

    // ----------------------------------------------------------------- hello

    static final class Hello extends Base {
        static final String BODY = "Hello World!";
        final List<Object> received = new ArrayList<>();

        Hello(JmsPeer p) {
            super(p);
        }

        @Override
        public void run(Session session) throws Exception {
            Queue queue = session.createQueue(p.opts.address);
            stage("the attach of the consumer's link from " + p.opts.address);
            MessageConsumer consumer = session.createConsumer(queue);
            linkOpened(p, "receiver", p.opts.address);
            // only once the consumer is attached (createConsumer returned): the producer
            stage("the attach of the producer's link to " + p.opts.address);
            MessageProducer producer = session.createProducer(queue);
            linkOpened(p, "sender", p.opts.address);
            stage("the outcome of the hello message (JMS send() waits for credit and outcome)");
            p.ids.next(null);
            producer.send(session.createTextMessage(BODY));
            p.out.event("sent", "body", BODY);
            p.out.event("accepted", "id", null);
            stage("the message back from " + p.opts.address);
            Message m = next(p, consumer);
            synchronized (p.lock) {
                received.add(body(m));
            }
            p.out.event("message", fields(m));
            m.acknowledge();
            closeAll(producer, consumer);
        }

        @Override
        public Map<String, Object> result() {
            synchronized (p.lock) {
                return Out.obj("received", new ArrayList<>(received));
            }
        }
    }
}
