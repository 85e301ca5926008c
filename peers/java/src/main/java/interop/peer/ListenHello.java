package interop.peer;

import interop.common.Options;
import interop.common.Out;
import interop.common.Roles;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.qpid.protonj2.client.Client;
import org.apache.qpid.protonj2.client.ClientOptions;
import org.apache.qpid.protonj2.client.Connection;
import org.apache.qpid.protonj2.client.ConnectionOptions;
import org.apache.qpid.protonj2.client.Message;
import org.apache.qpid.protonj2.client.Sender;
import org.apache.qpid.protonj2.client.SenderOptions;
import org.apache.qpid.protonj2.client.Tracker;
import org.apache.qpid.protonj2.engine.IncomingDelivery;
import org.apache.qpid.protonj2.engine.Receiver;
import org.apache.qpid.protonj2.types.messaging.Accepted;

/**
 * {@code hello --listen}: the tutorial's helloworld_direct. The peer listens, then connects to
 * its own listener with protonj2's client (another thread) and sends "Hello World!"; the engine
 * side receives it, accepts it and records it; the client closes its connection once the message
 * was accepted, which ends the role.
 */
final class ListenHello extends Listener {
    private final List<Object> received = new ArrayList<>();
    private boolean sent;

    ListenHello(Options o) {
        super(o, "the hello message came");
    }

    @Override
    protected void listening(int port) {
        Thread t = new Thread(() -> {
            try {
                sendToSelf(port);
            } catch (Exception e) {
                finish(FAILED, "hello to its own listener: " + describe(e), null);
            }
        }, "hello-client");
        t.setDaemon(true);
        t.start();
    }

    private void sendToSelf(int port) throws Exception {
        ConnectionOptions co = new ConnectionOptions();
        co.reconnectEnabled(false);
        co.saslOptions().addAllowedMechanism("ANONYMOUS");
        String id = "amqp-interop-java-hello-" + ProcessHandle.current().pid();
        try (Client client = Client.create(new ClientOptions().id(id))) {
            Connection conn = client.connect(opts.host, port, co);
            conn.openFuture().get();
            Sender sender = conn.openSender(opts.address, new SenderOptions().linkName("hello-sender"));
            sender.openFuture().get();
            Tracker t = sender.send(Message.create((Object) Roles.Hello.BODY));
            synchronized (lock) {
                sent = true;
            }
            out.event("sent", "body", Roles.Hello.BODY);
            t.settlementFuture().get();
            if (Values.outcome(out, t.remoteState(), null).equals("rejected")) {
                throw new Fatal("the hello message was rejected");
            }
            sender.close();
            conn.close();
        }
    }

    /** hello has no --count: it is finished once the message came. */
    @Override
    protected boolean finished() {
        return done;
    }

    /** The client's sender: our end receives, grants credit, accepts the message. */
    @Override
    protected void receiverOpened(Receiver r) {
        acceptReceiver(r, 1, this::delivery);
    }

    private void delivery(IncomingDelivery d) {
        Map<String, Object> fields;
        try {
            fields = Values.fields(decode(d));
        } catch (Exception e) {
            finish(FAILED, "the hello message does not decode: " + describe(e), null);
            return;
        }
        synchronized (lock) {
            received.add(fields.get("body"));
            done = true; // the client closes once it has the outcome; then the listener ends
        }
        out.event("message", fields);
        d.disposition(Accepted.getInstance(), true);
    }

    @Override
    public Map<String, Object> result() {
        synchronized (lock) {
            return Out.obj("received", new ArrayList<>(received));
        }
    }

    @Override
    protected String roleWaitingFor() {
        synchronized (lock) {
            return sent ? "the hello message at the listener" : "credit on the sender to " + opts.address;
        }
    }

    @Override
    public boolean countless() {
        return false;
    }
}
