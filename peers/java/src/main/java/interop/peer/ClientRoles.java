package interop.peer;

import interop.common.Out;
import interop.common.PeerBase;
import interop.common.PeerBase.Fatal;
import interop.common.Roles;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.qpid.protonj2.client.Connection;
import org.apache.qpid.protonj2.client.Delivery;
import org.apache.qpid.protonj2.client.DeliveryMode;
import org.apache.qpid.protonj2.client.ExpiryPolicy;
import org.apache.qpid.protonj2.client.Link;
import org.apache.qpid.protonj2.client.Message;
import org.apache.qpid.protonj2.client.Receiver;
import org.apache.qpid.protonj2.client.ReceiverOptions;
import org.apache.qpid.protonj2.client.Sender;
import org.apache.qpid.protonj2.client.SenderOptions;
import org.apache.qpid.protonj2.client.Tracker;
import org.apache.qpid.protonj2.types.UnsignedLong;

/** The contract's five roles on protonj2's client API, the way its users write them. */
final class ClientRoles {
    /** the credit window of every receiving link */
    static final int CREDIT = 100;

    private ClientRoles() {}

    static ClientRole create(PeerBase p) {
        return Roles.create(p, Send::new, Receive::new, Serve::new, Request::new, Hello::new);
    }

    static void linkOpened(PeerBase p, String name, String role, Link<?> link) throws Exception {
        String address = link.address();
        p.out.event("link_opened", "link", name, "role", role, "address", address);
    }

    static ReceiverOptions receiverOptions(String name) {
        // at-least-once: unsettled deliveries, accepted by the peer itself
        return new ReceiverOptions().linkName(name).autoAccept(false).creditWindow(CREDIT)
                .deliveryMode(DeliveryMode.AT_LEAST_ONCE);
    }

    /**
     * The delivery's message. protonj2 decodes it lazily, here; a failure is the library's, not
     * a lost connection: the role fails with it (the stack trace goes to stderr).
     */
    @SuppressWarnings("unchecked")
    static Message<Object> decode(Delivery d) throws Exception {
        try {
            return (Message<Object>) d.message();
        } catch (Exception e) {
            Throwable root = e;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            java.io.StringWriter trace = new java.io.StringWriter();
            root.printStackTrace(new java.io.PrintWriter(trace));
            System.err.print(trace);
            throw new Fatal("protonj2 could not decode a delivery: " + root);
        }
    }

    /** Accepts a delivery; a pre-settled one (a settled reply source) needs no disposition. */
    static void acceptUnlessSettled(Delivery d) throws Exception {
        if (!d.remoteSettled()) {
            d.accept();
        }
    }

    static void closeAll(List<? extends Link<?>> links) {
        for (Link<?> l : links) {
            try {
                l.closeAsync().get(2, TimeUnit.SECONDS);
            } catch (Exception e) {
                Out.stderr("closing a link: " + PeerBase.describe(e));
            }
        }
    }

    // ------------------------------------------------------------------ send

    static final class Send extends Roles.Send<PeerBase> implements ClientRole {
        Send(PeerBase p) {
            super(p);
        }

        @Override
        public void run(Connection conn) throws Exception {
            stage("the attach of the sender link to " + p.opts.address);
            String name = "send-" + p.opts.address;
            Sender sender = conn.openSender(p.opts.address, new SenderOptions().linkName(name)
                    .deliveryMode(DeliveryMode.AT_LEAST_ONCE));
            sender.openFuture().get();
            linkOpened(p, name, "sender", sender);
            BlockingQueue<Integer> work = new LinkedBlockingQueue<>(sends.unconfirmed());
            BlockingQueue<Object[]> pending = new LinkedBlockingQueue<>();
            Object[] failure = new Object[1];
            Thread outcomes = new Thread(() -> outcomes(pending, work, failure), "outcomes");
            outcomes.setDaemon(true);
            outcomes.start();
            try {
                while (true) {
                    synchronized (p.lock) {
                        if (failure[0] != null) {
                            throw (Exception) failure[0];
                        }
                        if (sends.allConfirmed()) {
                            break;
                        }
                    }
                    Integer id = work.poll(20, TimeUnit.MILLISECONDS);
                    if (id == null) {
                        stage("accepted outcomes (confirmed " + sends.confirmed() + ")");
                        continue;
                    }
                    stage("credit on the sender link to " + p.opts.address);
                    Message<Map<String, Object>> msg = Message.create(Map.of("sequence", (Object) (long) id));
                    msg.durable(true); // so a broker that persists keeps it
                    msg.messageId(UnsignedLong.valueOf(id));
                    Tracker tracker = sender.send(msg);
                    sends.sent(id);
                    p.out.event("sent", "id", id);
                    pending.add(new Object[] {id, tracker});
                }
            } finally {
                outcomes.interrupt();
            }
            closeAll(List.of(sender));
        }

        /** Waits for each delivery's settlement in order: accepted counts, released and modified go again. */
        void outcomes(BlockingQueue<Object[]> pending, BlockingQueue<Integer> work, Object[] failure) {
            try {
                while (true) {
                    Object[] item = pending.take();
                    int id = (Integer) item[0];
                    Tracker t = (Tracker) item[1];
                    t.settlementFuture().get();
                    String name = Values.outcome(p.out, t.remoteState(), id);
                    synchronized (p.lock) {
                        if (name.equals("accepted")) {
                            sends.confirm(id);
                        } else if (name.equals("rejected")) {
                            failure[0] = new Fatal("message " + id + " rejected: " + t.remoteState());
                        } else {
                            work.add(id); // not delivered: at-least-once sends it again
                        }
                    }
                }
            } catch (InterruptedException e) {
                // the connection's run is over
            } catch (Exception e) {
                synchronized (p.lock) {
                    failure[0] = e;
                }
            }
        }
    }

    // --------------------------------------------------------------- receive

    static final class Receive extends Roles.Receive<PeerBase> implements ClientRole {
        Receive(PeerBase p) {
            super(p, "receiver link");
        }

        @Override
        public void run(Connection conn) throws Exception {
            String name = "receive-" + p.opts.address;
            Receiver receiver = conn.openReceiver(p.opts.address, receiverOptions(name));
            receiver.openFuture().get();
            linkOpened(p, name, "receiver", receiver);
            attached();
            while (true) {
                Delivery d = receiver.receive();
                Message<Object> m = decode(d);
                boolean duplicate = receipts.record(Values.key(m.messageId()));
                boolean finished = receipts.complete();
                Map<String, Object> f = Values.fields(m);
                f.put("duplicate", duplicate);
                p.out.event("message", f);
                d.accept();
                if (finished) {
                    closeAll(List.of(receiver));
                    return;
                }
            }
        }
    }

    // ----------------------------------------------------------------- serve

    static final class Serve extends Roles.Serve<PeerBase> implements ClientRole {
        Serve(PeerBase p) {
            super(p);
        }

        @Override
        public void run(Connection conn) throws Exception {
            stage("the attach of the request receiver from " + p.opts.address);
            String name = "serve-" + p.opts.address;
            Receiver receiver = conn.openReceiver(p.opts.address, receiverOptions(name));
            receiver.openFuture().get();
            linkOpened(p, name, "receiver", receiver);
            readyOnce();
            boolean relay = false;
            String[] offered = conn.offeredCapabilities();
            for (String c : offered == null ? new String[0] : offered) {
                relay |= "ANONYMOUS-RELAY".equals(c);
            }
            Sender anonymous = null;
            Map<String, Sender> senders = new HashMap<>();
            List<Link<?>> links = new ArrayList<>(List.of(receiver));
            while (more()) {
                Delivery d = receiver.receive();
                Message<Object> m = decode(d);
                p.out.event("message", Values.fields(m));
                String replyTo = m.replyTo();
                if (replyTo == null) {
                    Out.stderr("serve: request without reply_to ignored");
                    d.accept();
                    continue;
                }
                Object corr = m.correlationId() != null ? m.correlationId() : m.messageId();
                Sender sender;
                if (relay) {
                    if (anonymous == null) {
                        anonymous = conn.openAnonymousSender(new SenderOptions().linkName("serve-relay"));
                        anonymous.openFuture().get();
                        links.add(anonymous);
                        linkOpened(p, "serve-relay", "sender", anonymous);
                    }
                    sender = anonymous;
                } else {
                    sender = senders.get(replyTo);
                    if (sender == null) {
                        String linkName = "serve-reply-" + replyTo;
                        sender = conn.openSender(replyTo, new SenderOptions().linkName(linkName));
                        sender.openFuture().get();
                        senders.put(replyTo, sender);
                        links.add(sender);
                        linkOpened(p, linkName, "sender", sender);
                    }
                }
                String text = answer(Values.text(m));
                Message<Object> reply = Message.create((Object) text);
                reply.to(replyTo);
                reply.correlationId(corr);
                stage("credit for a reply to " + replyTo);
                Tracker t = sender.send(reply);
                served();
                p.out.event("sent", "id", null, "body", text, "to", replyTo, "correlation_id", Values.json(corr));
                d.accept();
                stage("the outcome of a reply to " + replyTo);
                t.settlementFuture().get();
                Values.outcome(p.out, t.remoteState(), null);
            }
            closeAll(links);
        }
    }

    // --------------------------------------------------------------- request

    static final class Request extends Roles.Request<PeerBase> implements ClientRole {
        Request(PeerBase p) {
            super(p, "dynamic source");
        }

        @Override
        public void run(Connection conn) throws Exception {
            stage("the attach of the dynamic reply receiver (its address)");
            ReceiverOptions ro = receiverOptions("request-replies");
            if (!p.opts.dynamicCapabilities.isEmpty()) {
                // --dynamic-capability: the broker's own kind of node (RabbitMQ 4.2+ Direct Reply-To),
                // which lives as long as the link and delivers pre-settled (peers/CONTRACT.md)
                ro.sourceOptions().capabilities(p.opts.dynamicCapabilities.toArray(new String[0]));
                ro.sourceOptions().expiryPolicy(ExpiryPolicy.LINK_CLOSE);
                ro.deliveryMode(DeliveryMode.AT_MOST_ONCE);
            }
            Receiver replies = conn.openDynamicReceiver(ro);
            String address = replies.address(); // blocks until the remote's attach
            linkOpened(p, "request-replies", "receiver", replies);
            if (address == null) {
                throw new Fatal("the dynamic reply receiver was attached without an address");
            }
            replyTo(address, "the attach of the request sender to " + p.opts.address);
            String name = "request-" + p.opts.address;
            Sender sender = conn.openSender(p.opts.address, new SenderOptions().linkName(name));
            sender.openFuture().get();
            linkOpened(p, name, "sender", sender);
            List<Object[]> trackers = new ArrayList<>();
            for (int i = 0; i < requests.size(); i++) {
                if (!unanswered(i, "credit on the request sender to " + p.opts.address)) {
                    continue;
                }
                Message<Object> msg = Message.create((Object) requests.get(i));
                msg.messageId(UnsignedLong.valueOf(i + 1));
                msg.correlationId(correlation(i));
                msg.replyTo(address);
                Tracker t = sender.send(msg);
                p.out.event("sent", "id", i + 1, "body", requests.get(i), "correlation_id", correlation(i));
                trackers.add(new Object[] {i + 1, t});
            }
            Thread outcomes = new Thread(() -> {
                for (Object[] item : trackers) {
                    Tracker t = (Tracker) item[1];
                    try {
                        t.settlementFuture().get();
                    } catch (Exception e) {
                        return;
                    }
                    Values.outcome(p.out, t.remoteState(), item[0]);
                }
            }, "outcomes");
            outcomes.setDaemon(true);
            outcomes.start();
            while (awaitingReplies()) {
                Delivery d = replies.receive();
                Message<Object> m = decode(d);
                Object corr = m.correlationId();
                reply(corr, Values.key(corr), Values.fields(m), () -> acceptUnlessSettled(d), () -> Values.text(m));
            }
            closeAll(List.of(sender, replies));
        }
    }

    // ----------------------------------------------------------------- hello

    static final class Hello extends Roles.Hello<PeerBase> implements ClientRole {
        Hello(PeerBase p) {
            super(p);
        }

        @Override
        public void run(Connection conn) throws Exception {
            stage("the attach of the receiver link from " + p.opts.address);
            Receiver receiver = conn.openReceiver(p.opts.address, receiverOptions("hello-receiver"));
            receiver.openFuture().get();
            linkOpened(p, "hello-receiver", "receiver", receiver);
            // only once the receiver is attached: the sender
            stage("the attach of the sender link to " + p.opts.address);
            Sender sender = conn.openSender(p.opts.address, new SenderOptions().linkName("hello-sender"));
            sender.openFuture().get();
            linkOpened(p, "hello-sender", "sender", sender);
            stage("credit on the sender link to " + p.opts.address);
            Tracker t = sender.send(Message.create((Object) BODY)); // waits inside protonj2 for credit
            p.out.event("sent", "body", BODY);
            stage("the message back from " + p.opts.address);
            Delivery d = receiver.receive();
            Message<Object> m = decode(d);
            received(Values.json(m.body()));
            p.out.event("message", Values.fields(m));
            d.accept();
            try {
                t.settlementFuture().get(2, TimeUnit.SECONDS);
                if (Values.outcome(p.out, t.remoteState(), null).equals("rejected")) {
                    throw new Fatal("the hello message was rejected");
                }
            } catch (java.util.concurrent.TimeoutException e) {
                // the outcome of our own message did not come in time: not the role's concern
            }
            closeAll(List.of(sender, receiver));
        }
    }
}
