package interop.peer;

import interop.common.Options;
import interop.common.Out;
import interop.common.PeerBase;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.Consumer;
import org.apache.qpid.protonj2.buffer.ProtonBuffer;
import org.apache.qpid.protonj2.buffer.ProtonBufferAllocator;
import org.apache.qpid.protonj2.client.Message;
import org.apache.qpid.protonj2.client.impl.ClientMessageSupport;
import org.apache.qpid.protonj2.engine.Connection;
import org.apache.qpid.protonj2.engine.Engine;
import org.apache.qpid.protonj2.engine.EngineFactory;
import org.apache.qpid.protonj2.engine.EventHandler;
import org.apache.qpid.protonj2.engine.IncomingDelivery;
import org.apache.qpid.protonj2.engine.OutgoingDelivery;
import org.apache.qpid.protonj2.engine.Receiver;
import org.apache.qpid.protonj2.engine.Sender;
import org.apache.qpid.protonj2.engine.sasl.SaslOutcome;
import org.apache.qpid.protonj2.engine.sasl.SaslServerContext;
import org.apache.qpid.protonj2.engine.sasl.SaslServerListener;
import org.apache.qpid.protonj2.types.Symbol;
import org.apache.qpid.protonj2.types.messaging.Source;
import org.apache.qpid.protonj2.types.messaging.Target;
import org.apache.qpid.protonj2.types.transport.AMQPHeader;
import org.apache.qpid.protonj2.types.transport.ErrorCondition;
import org.apache.qpid.protonj2.types.transport.ReceiverSettleMode;
import org.apache.qpid.protonj2.types.transport.SenderSettleMode;

/**
 * {@code --listen}: protonj2's engine, the protocol core under its client, acting as a server
 * (SASL server, connection, session and link handlers) over a plain blocking java.nio socket. One
 * connection is served; when it has closed (and the role is done) the acceptor closes and the
 * peer exits. The roles (the tutorial's direct_* examples) are subclasses that answer the links
 * the connecting peer attaches: {@link ListenReceive}, {@link ListenSend}, {@link ListenServe},
 * {@link ListenHello}.
 */
abstract class Listener extends PeerBase implements PeerBase.Role {
    /** the roles this peer does with --listen */
    static final List<String> ROLES = List.of("receive", "send", "serve", "hello");
    static final int CREDIT = 100;
    private static final long CLOSE_WAIT_MS = 2000;
    protected final int total;
    /** what is missing when the connection ends before the role is done ("10 replies were settled") */
    private final String unfinished;
    private long tag;
    private boolean accepted;
    private boolean remoteClosed;
    private SocketChannel channel;
    protected Connection connection;

    Listener(Options o, String unfinished) {
        super(o);
        total = o.count;
        this.unfinished = unfinished;
        role = this;
    }

    /** The listener for o.role (o.listen is set and the role is one of {@link #ROLES}). */
    static Listener create(Options o) {
        switch (o.role) {
            case "send": return new ListenSend(o);
            case "serve": return new ListenServe(o);
            case "hello": return new ListenHello(o);
            default: return new ListenReceive(o);
        }
    }

    /** Called once the acceptor is bound (before the first connection is accepted). */
    protected void listening(int port) {}

    /** Under {@link #lock}: the role has nothing left to do (done, or --count 0 asked for nothing). */
    protected boolean finished() {
        return done || total == 0;
    }

    /** receive/serve with --count 0: a signal is the normal end. */
    @Override
    public boolean countless() {
        return total == 0;
    }

    /** The connector attached a sender: by default this listener does not receive. */
    protected void receiverOpened(Receiver r) {
        refuse(r, "this listener does not receive");
    }

    /** The connector attached a receiver: by default this listener does not send. */
    protected void senderOpened(Sender s) {
        refuse(s, "this listener does not send");
    }

    private static void refuse(org.apache.qpid.protonj2.engine.Link<?> link, String why) {
        link.open();
        link.setCondition(new ErrorCondition(Symbol.valueOf("amqp:not-implemented"), why));
        link.close();
    }

    /**
     * Answers the connector's sender: our end receives (settling first) with {@code credit} and
     * hands each whole delivery (not partial, not aborted) to {@code delivery}.
     */
    protected void acceptReceiver(Receiver r, int credit, Consumer<IncomingDelivery> delivery) {
        r.setSource(r.getRemoteSource());
        r.setTarget((Target) r.getRemoteTarget());
        r.setReceiverSettleMode(ReceiverSettleMode.FIRST);
        r.deliveryReadHandler(d -> {
            if (!d.isPartial() && !d.isAborted()) {
                delivery.accept(d);
            }
        });
        r.open();
        Target target = r.getRemoteTarget();
        out.event("link_opened", "link", r.getName(), "role", "receiver",
                "address", target == null ? null : target.getAddress());
        r.addCredit(credit);
    }

    /** Refills the receiver's credit to {@link #CREDIT} once it fell below half (the tutorial's prefetch). */
    protected static void topUp(Receiver r) {
        if (r.getCredit() < CREDIT / 2) {
            r.addCredit(CREDIT - r.getCredit());
        }
    }

    /** Answers the connector's receiver: our end sends from {@code source}; credit and outcomes go to the handlers. */
    protected void acceptSender(Sender s, Source source, EventHandler<Sender> credit,
            EventHandler<OutgoingDelivery> outcome) {
        s.setSource(source);
        s.setTarget((Target) s.getRemoteTarget());
        // 2.7.3: the receiver's snd-settle-mode is the mode it desires at the sender, which SHOULD
        // respect it. Unsettled is answered with unsettled, what these sends are anyway (go-amqp
        // refuses any other answer); a receiver asking settled keeps the engine's mixed, because
        // the send role counts outcomes.
        if (s.getRemoteSenderSettleMode() == SenderSettleMode.UNSETTLED) {
            s.setSenderSettleMode(SenderSettleMode.UNSETTLED);
        }
        s.creditStateUpdateHandler(credit);
        s.deliveryStateUpdatedHandler(outcome);
        s.open();
        out.event("link_opened", "link", s.getName(), "role", "sender",
                "address", source == null ? null : source.getAddress());
    }

    /** The sender's next delivery, tagged with this listener's next number ("0", "1", ...). */
    protected OutgoingDelivery nextDelivery(Sender s) {
        OutgoingDelivery d = s.next();
        d.setTag(Long.toString(tag++).getBytes(StandardCharsets.US_ASCII));
        return d;
    }

    /** The role is done: close the link and the connection (the direct examples close both). */
    protected void complete(org.apache.qpid.protonj2.engine.Link<?> link) {
        synchronized (lock) {
            done = true;
        }
        if (link != null) {
            link.close();
        }
        connection.close();
    }

    @Override
    protected List<String> unreported() {
        return List.of();
    }

    @Override
    public void run() throws Exception {
        try (ServerSocketChannel acceptor = ServerSocketChannel.open()) {
            acceptor.bind(new InetSocketAddress(opts.host, opts.port));
            int port = ((InetSocketAddress) acceptor.getLocalAddress()).getPort();
            String host = opts.host.contains(":") ? "[" + opts.host + "]" : opts.host;
            out.ready("amqp://" + host + ":" + port);
            listening(port);
            channel = acceptor.accept();
            synchronized (lock) {
                accepted = true;
            }
        }
        String problem = serve();
        boolean ok;
        synchronized (lock) {
            ok = finished() && problem == null || done;
        }
        finish(ok ? OK : FAILED, ok ? null : problem, null);
    }

    /** One connection through the engine; returns a problem, or null when it closed cleanly. */
    private String serve() throws IOException {
        Engine engine = EngineFactory.PROTON.createEngine();
        engine.outputConsumer(this::write);
        engine.saslDriver().server().setListener(new SaslServerListener() {
            @Override
            public void handleSaslHeader(SaslServerContext ctx, AMQPHeader header) {
                ctx.sendMechanisms(new Symbol[] {Symbol.valueOf("ANONYMOUS"), Symbol.valueOf("PLAIN")});
            }

            @Override
            public void handleSaslInit(SaslServerContext ctx, Symbol mechanism, ProtonBuffer initResponse) {
                ctx.sendOutcome(SaslOutcome.SASL_OK, null); // the tutorial's direct examples take anyone
            }

            @Override
            public void handleSaslResponse(SaslServerContext ctx, ProtonBuffer response) {}
        });
        connection = engine.start();
        connection.setContainerId("amqp-interop-java-listener-" + ProcessHandle.current().pid());
        connection.openHandler(c -> {
            opened(c.getRemoteContainerId());
            c.open();
        });
        connection.closeHandler(c -> {
            synchronized (lock) {
                remoteClosed = true;
            }
            if (!c.isLocallyClosed()) {
                c.close();
            }
            out.event("connection_closed");
        });
        connection.sessionOpenHandler(s -> s.open());
        connection.receiverOpenHandler(r -> {
            r.closeHandler(Listener::answerDetach);
            receiverOpened(r);
        });
        connection.senderOpenHandler(s -> {
            s.closeHandler(Listener::answerDetach);
            senderOpened(s);
        });
        ByteBuffer in = ByteBuffer.allocate(64 * 1024);
        long closingSince = 0;
        try {
            while (true) {
                synchronized (lock) {
                    if (remoteClosed && (done || finished())) {
                        return null;
                    }
                    if (remoteClosed) {
                        return "the connection closed before " + unfinished;
                    }
                    if (done && closingSince == 0) {
                        closingSince = System.currentTimeMillis();
                    }
                }
                if (closingSince > 0 && System.currentTimeMillis() - closingSince > CLOSE_WAIT_MS) {
                    return null; // we closed; the remote's close did not come in time
                }
                in.clear();
                int n;
                if (closingSince > 0) { // done: wait for the remote's close in short reads
                    // (SO_TIMEOUT bounds the socket adaptor's stream, not SocketChannel.read)
                    channel.socket().setSoTimeout(200);
                    try {
                        n = channel.socket().getInputStream().read(in.array());
                    } catch (java.net.SocketTimeoutException e) {
                        continue;
                    }
                } else {
                    n = channel.read(in);
                }
                if (n < 0) {
                    boolean over;
                    synchronized (lock) {
                        over = done || finished();
                    }
                    if (!over) {
                        out.event("disconnected", "reason", "the connector closed the socket");
                    }
                    return over ? null : "the connection was lost before " + unfinished;
                }
                engine.ingest(ProtonBufferAllocator.defaultAllocator().copy(in.array(), 0, n));
            }
        } finally {
            channel.close();
        }
    }

    /** The connector detached a link: detach ours too (its client waits for the answer). */
    private static void answerDetach(org.apache.qpid.protonj2.engine.Link<?> link) {
        if (!link.isLocallyClosed()) {
            link.close();
        }
    }

    private void write(ProtonBuffer buffer) {
        byte[] data = new byte[buffer.getReadableBytes()];
        buffer.readBytes(data, 0, data.length);
        ByteBuffer bb = ByteBuffer.wrap(data);
        try {
            while (bb.hasRemaining()) {
                channel.write(bb);
            }
        } catch (IOException e) {
            Out.stderr("listener: writing to the connector failed: " + e.getMessage());
        }
    }

    /** Prints the outcome events of an engine delivery the connector settled; returns the outcome. */
    static String outcome(Out out, org.apache.qpid.protonj2.types.transport.DeliveryState state, Object id) {
        return Values.report(out, state == null ? null : state.getType(), id);
    }

    /** Encodes a client Message for an engine delivery. */
    static ProtonBuffer encode(Message<?> m) throws Exception {
        return ClientMessageSupport.encodeMessage((org.apache.qpid.protonj2.client.AdvancedMessage<?>) m, null);
    }

    /** Decodes an engine delivery's payload with the client's codec. */
    @SuppressWarnings("unchecked")
    static Message<Object> decode(IncomingDelivery d) throws Exception {
        return (Message<Object>) ClientMessageSupport.decodeMessage(d.readAll(), null);
    }

    @Override
    protected void connection() {
        throw new UnsupportedOperationException("a listener does not connect");
    }

    @Override
    protected Exception classify(Exception e) {
        return e;
    }

    @Override
    public String waitingFor() {
        synchronized (lock) {
            if (!accepted) {
                return "a connection on " + opts.hostPort();
            }
        }
        return roleWaitingFor();
    }

    /** What the role waits for once a connector is in. */
    protected abstract String roleWaitingFor();
}
