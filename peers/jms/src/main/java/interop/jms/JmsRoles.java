package interop.jms;

import interop.common.Json;
import interop.common.Out;
import interop.common.PeerBase.Fatal;
import interop.common.Roles;
import jakarta.jms.BytesMessage;
import jakarta.jms.CompletionListener;
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
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** The contract's roles in plain JMS: producers, consumers, acknowledge(), a temporary queue. */
final class JmsRoles {
    /** how long one receive() waits before the peer looks at the connection again */
    static final long POLL_MS = 200;

    private JmsRoles() {}

    static JmsRole create(JmsPeer p) {
        return Roles.create(p, Send::new, Receive::new, Serve::new, Request::new, Hello::new);
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

    // ------------------------------------------------------------------ send

    static final class Send extends Roles.Send<JmsPeer> implements JmsRole {
        /** held from send() to the "sent" line, so that "accepted" comes after it */
        final Object sending = new Object();

        Send(JmsPeer p) {
            super(p);
        }

        @Override
        public void run(Session session) throws Exception {
            stage("the attach of the producer's link to " + p.opts.address);
            MessageProducer producer = session.createProducer(session.createQueue(p.opts.address));
            producer.setDeliveryMode(DeliveryMode.PERSISTENT); // durable, and its outcome awaited
            linkOpened(p, "sender", p.opts.address);
            // JMS 2 asynchronous sends: send() hands the message over, a CompletionListener hears
            // that the remote accepted it (or that it did not: an exception, outcome unnamed)
            BlockingQueue<Integer> again = new LinkedBlockingQueue<>();
            List<Integer> queue = sends.unconfirmed();
            while (true) {
                if (sends.allConfirmed()) {
                    break; // before check(): a direct listener closes once it has every message
                }
                p.check();
                Integer id = queue.isEmpty() ? again.poll(POLL_MS, TimeUnit.MILLISECONDS) : queue.remove(0);
                if (id == null) {
                    stage("accepted outcomes (CompletionListener)");
                    continue;
                }
                stage("credit for message " + id + " (JMS send() waits for it inside the library)");
                MapMessage m = session.createMapMessage();
                m.setLong("sequence", id);
                sends.sent(id);
                synchronized (sending) {
                    p.ids.next((long) id);
                    producer.send(m, new CompletionListener() {
                        @Override
                        public void onCompletion(Message message) {
                            synchronized (sending) { // after the "sent" line of the same message
                                p.out.event("accepted", "id", id);
                            }
                            sends.confirm(id);
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
    }

    // --------------------------------------------------------------- receive

    static final class Receive extends Roles.Receive<JmsPeer> implements JmsRole {
        Receive(JmsPeer p) {
            super(p, "consumer's link");
        }

        @Override
        public void run(Session session) throws Exception {
            MessageConsumer consumer = session.createConsumer(session.createQueue(p.opts.address));
            linkOpened(p, "receiver", p.opts.address);
            attached();
            while (true) {
                Message m = next(p, consumer);
                Map<String, Object> f = fields(m);
                boolean duplicate = receipts.record(Json.text(f.get("id")));
                boolean finished = receipts.complete();
                f.put("duplicate", duplicate);
                p.out.event("message", f);
                m.acknowledge(); // CLIENT_ACKNOWLEDGE: the accepted disposition
                if (finished) {
                    closeAll(consumer);
                    return;
                }
            }
        }
    }

    // ----------------------------------------------------------------- serve

    static final class Serve extends Roles.Serve<JmsPeer> implements JmsRole {
        Serve(JmsPeer p) {
            super(p);
        }

        @Override
        public void run(Session session) throws Exception {
            stage("the attach of the request consumer's link from " + p.opts.address);
            MessageConsumer consumer = session.createConsumer(session.createQueue(p.opts.address));
            linkOpened(p, "receiver", p.opts.address);
            readyOnce();
            // an anonymous producer: Qpid JMS uses ANONYMOUS-RELAY when the remote offers it,
            // else a link per destination (it does not say which)
            MessageProducer producer = session.createProducer(null);
            producer.setDeliveryMode(DeliveryMode.NON_PERSISTENT);
            while (more()) {
                Message m = next(p, consumer);
                p.out.event("message", fields(m));
                Destination replyTo = m.getJMSReplyTo();
                if (replyTo == null) {
                    Out.stderr("serve: request without reply_to ignored");
                    m.acknowledge();
                    continue;
                }
                String corr = m.getJMSCorrelationID() != null ? m.getJMSCorrelationID() : m.getJMSMessageID();
                String text = answer(text(m));
                TextMessage reply = session.createTextMessage(text);
                reply.setJMSCorrelationID(corr);
                stage("a reply to " + name(replyTo) + " (JMS send() waits for credit)");
                p.ids.next(null);
                producer.send(replyTo, reply);
                served();
                p.out.event("sent", "id", null, "body", text, "to", name(replyTo), "correlation_id", Ids.json(corr));
                m.acknowledge();
            }
            closeAll(producer, consumer);
        }
    }

    // --------------------------------------------------------------- request

    static final class Request extends Roles.Request<JmsPeer> implements JmsRole {
        Request(JmsPeer p) {
            super(p, "dynamic target");
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
            replyTo(address, "the attach of the reply consumer's link from " + address);
            MessageConsumer replies = session.createConsumer(tmp);
            linkOpened(p, "receiver", address);
            stage("the attach of the request producer's link to " + p.opts.address);
            MessageProducer producer = session.createProducer(session.createQueue(p.opts.address));
            linkOpened(p, "sender", p.opts.address);
            for (int i = 0; i < requests.size(); i++) {
                if (!unanswered(i, "the outcome of request " + (i + 1) + " (JMS send() waits for credit and outcome)")) {
                    continue;
                }
                TextMessage m = session.createTextMessage(requests.get(i));
                m.setJMSReplyTo(tmp);
                m.setJMSCorrelationID(correlation(i));
                p.ids.next((long) i + 1);
                producer.send(m);
                p.out.event("sent", "id", i + 1, "body", requests.get(i), "correlation_id", correlation(i));
                p.out.event("accepted", "id", i + 1);
            }
            while (awaitingReplies()) {
                Message m = next(p, replies);
                String corr = m.getJMSCorrelationID();
                reply(corr, Json.text(Ids.json(corr)), fields(m), m::acknowledge, () -> text(m));
            }
            closeAll(producer, replies);
            tmp.delete();
        }
    }

    // ----------------------------------------------------------------- hello

    static final class Hello extends Roles.Hello<JmsPeer> implements JmsRole {
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
            received(body(m));
            p.out.event("message", fields(m));
            m.acknowledge();
            closeAll(producer, consumer);
        }
    }
}
