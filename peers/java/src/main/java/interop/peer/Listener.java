package interop.peer;

import interop.common.Options;
import interop.common.Out;
import interop.common.PeerBase;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.qpid.protonj2.buffer.ProtonBuffer;
import org.apache.qpid.protonj2.buffer.ProtonBufferAllocator;
import org.apache.qpid.protonj2.client.Message;
import org.apache.qpid.protonj2.client.impl.ClientMessageSupport;
import org.apache.qpid.protonj2.engine.Connection;
import org.apache.qpid.protonj2.engine.Engine;
import org.apache.qpid.protonj2.engine.EngineFactory;
import org.apache.qpid.protonj2.engine.IncomingDelivery;
import org.apache.qpid.protonj2.engine.Receiver;
import org.apache.qpid.protonj2.engine.sasl.SaslOutcome;
import org.apache.qpid.protonj2.engine.sasl.SaslServerContext;
import org.apache.qpid.protonj2.engine.sasl.SaslServerListener;
import org.apache.qpid.protonj2.types.Symbol;
import org.apache.qpid.protonj2.types.messaging.Accepted;
import org.apache.qpid.protonj2.types.messaging.Target;
import org.apache.qpid.protonj2.types.transport.AMQPHeader;
import org.apache.qpid.protonj2.types.transport.ReceiverSettleMode;

/**
 * {@code receive --listen}: the tutorial's direct_recv on protonj2's engine, the protocol core
 * under its client, acting as a server (SASL server, connection, session and link handlers) over
 * a plain blocking java.nio socket. One connection is served; when it has closed (and the role
 * is done) the acceptor closes and the peer exits.
 */
final class Listener extends PeerBase implements PeerBase.Role {
    /** the roles this peer does with --listen (the direct scenario's listener receives) */
    static final List<String> ROLES = List.of("receive");
    static final int CREDIT = 100;
    private static final long CLOSE_WAIT_MS = 2000;
    private final int total;
    private final Set<String> seen = new HashSet<>();
    private int duplicates;
    private boolean accepted;
    private boolean remoteClosed;
    private SocketChannel channel;
    private Connection connection;

    Listener(Options o) {
        super(o);
        total = o.count;
        role = this;
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
            channel = acceptor.accept();
            synchronized (lock) {
                accepted = true;
            }
        }
        String problem = serve();
        boolean ok;
        synchronized (lock) {
            ok = done || (total == 0 && problem == null);
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
                ctx.sendOutcome(SaslOutcome.SASL_OK, null); // the tutorial's direct_recv takes anyone
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
        connection.receiverOpenHandler(this::receiverOpened);
        connection.senderOpenHandler(s -> {
            s.open();
            s.setCondition(new org.apache.qpid.protonj2.types.transport.ErrorCondition(
                    Symbol.valueOf("amqp:not-implemented"), "this listener only receives"));
            s.close();
        });
        ByteBuffer in = ByteBuffer.allocate(64 * 1024);
        long closingSince = 0;
        try {
            while (true) {
                synchronized (lock) {
                    if (remoteClosed && (done || total == 0)) {
                        return null;
                    }
                    if (remoteClosed) {
                        return "the connection closed before " + total + " distinct messages came";
                    }
                    if (done && closingSince == 0) {
                        closingSince = System.currentTimeMillis();
                    }
                }
                if (closingSince > 0 && System.currentTimeMillis() - closingSince > CLOSE_WAIT_MS) {
                    return null; // we closed; the remote's close did not come in time
                }
                if (closingSince > 0) {
                    channel.socket().setSoTimeout(200);
                }
                in.clear();
                int n = channel.read(in);
                if (n < 0) {
                    boolean finished;
                    synchronized (lock) {
                        finished = done || total == 0;
                    }
                    if (!finished) {
                        out.event("disconnected", "reason", "the connector closed the socket");
                    }
                    return finished ? null : "the connection was lost before " + total + " distinct messages came";
                }
                engine.ingest(ProtonBufferAllocator.defaultAllocator().copy(in.array(), 0, n));
            }
        } finally {
            channel.close();
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

    /** The connector attached a sender: our end receives, grants credit, accepts each message. */
    private void receiverOpened(Receiver r) {
        r.setSource(r.getRemoteSource());
        r.setTarget((Target) r.getRemoteTarget());
        r.setReceiverSettleMode(ReceiverSettleMode.FIRST);
        r.deliveryReadHandler(this::delivery);
        r.open();
        Target target = r.getRemoteTarget();
        out.event("link_opened", "link", r.getName(), "role", "receiver",
                "address", target == null ? null : target.getAddress());
        r.addCredit(CREDIT); // the tutorial's prefetch
    }

    private void delivery(IncomingDelivery d) {
        if (d.isPartial() || d.isAborted()) {
            return;
        }
        Receiver r = d.getLink();
        Map<String, Object> fields;
        try {
            @SuppressWarnings("unchecked")
            Message<Object> m = (Message<Object>) ClientMessageSupport.decodeMessage(d.readAll(), null);
            fields = Values.fields(m);
        } catch (Exception e) {
            Out.stderr("listener: undecodable message: " + describe(e));
            d.disposition(Accepted.getInstance(), true);
            return;
        }
        String key = Values.key(fields.get("id"));
        boolean duplicate;
        boolean finished;
        synchronized (lock) {
            duplicate = !seen.add(key);
            if (duplicate) {
                duplicates++;
            }
            finished = total > 0 && seen.size() >= total && !done;
            if (finished) {
                done = true;
            }
        }
        fields.put("duplicate", duplicate);
        out.event("message", fields);
        d.disposition(Accepted.getInstance(), true);
        if (finished) { // direct_recv: close the receiver and the connection
            r.close();
            connection.close();
            return;
        }
        if (r.getCredit() < CREDIT / 2) {
            r.addCredit(CREDIT - r.getCredit());
        }
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
    public Map<String, Object> result() {
        synchronized (lock) {
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
            r.put("reconnects", 0);
            return r;
        }
    }

    @Override
    public String waitingFor() {
        synchronized (lock) {
            if (!accepted) {
                return "a connection on " + opts.hostPort();
            }
            String of = total > 0 ? " of " + total : "";
            return "messages (received " + seen.size() + of + " distinct ids)";
        }
    }

    @Override
    public boolean countless() {
        return total == 0;
    }
}
