package interop.peer;

import interop.common.Options;
import interop.common.PeerBase;
import java.util.List;
import java.util.concurrent.ExecutionException;
import org.apache.qpid.protonj2.client.Client;
import org.apache.qpid.protonj2.client.ClientOptions;
import org.apache.qpid.protonj2.client.Connection;
import org.apache.qpid.protonj2.client.ConnectionOptions;
import org.apache.qpid.protonj2.client.ErrorCondition;
import org.apache.qpid.protonj2.client.exceptions.ClientConnectionRemotelyClosedException;
import org.apache.qpid.protonj2.client.exceptions.ClientLinkRemotelyClosedException;
import org.apache.qpid.protonj2.client.exceptions.ClientResourceRemotelyClosedException;
import org.apache.qpid.protonj2.client.exceptions.ClientSessionRemotelyClosedException;

/**
 * The connecting roles on protonj2's client. The client's blocking calls (connect, openReceiver,
 * send, receive) have no callbacks, so the contract's events are printed around them. The
 * client's own reconnect is off: the peer's loop opens a fresh connection and, as the tutorial's
 * simple_send does, sends everything not yet confirmed.
 */
final class ClientPeer extends PeerBase {
    /** protonj2's client never tells a sender about credit: send() waits inside the library. */
    private static final List<String> UNREPORTED = List.of("sendable");
    private final ClientRole clientRole;

    ClientPeer(Options o) {
        super(o);
        clientRole = ClientRoles.create(this);
        role = clientRole;
    }

    @Override
    protected List<String> unreported() {
        return UNREPORTED;
    }

    @Override
    protected void connection() throws Exception {
        ConnectionOptions co = new ConnectionOptions();
        co.reconnectEnabled(false);
        if (opts.user != null && opts.password != null) {
            co.user(opts.user).password(opts.password);
            co.saslOptions().addAllowedMechanism("PLAIN");
        } else {
            co.saslOptions().addAllowedMechanism("ANONYMOUS");
        }
        String id = "amqp-interop-java-" + opts.role + "-" + ProcessHandle.current().pid();
        try (Client client = Client.create(new ClientOptions().id(id))) {
            Connection conn = client.connect(opts.host, opts.port, co);
            // protonj2 keeps the remote open's container-id to itself
            connected(() -> conn.openFuture().get(), () -> clientRole.run(conn), conn::closeAsync, conn::close);
        }
    }

    @Override
    protected Exception classify(Exception raw) {
        Throwable e = raw;
        while (e instanceof ExecutionException && e.getCause() != null) {
            e = e.getCause();
        }
        if (e instanceof ClientConnectionRemotelyClosedException) {
            ErrorCondition c = ((ClientConnectionRemotelyClosedException) e).getErrorCondition();
            if (c == null) {
                return raw; // the socket went away: a lost connection
            }
            out.event("connection_error", "condition", c.condition(), "description", c.description());
            if ("amqp:connection:forced".equals(c.condition()) && opts.reconnect) {
                return raw; // the broker is going away: a lost connection
            }
            return new Fatal("connection error " + c.condition() + ": " + c.description());
        }
        if (e instanceof ClientResourceRemotelyClosedException) {
            ErrorCondition c = ((ClientResourceRemotelyClosedException) e).getErrorCondition();
            String cond = c == null ? null : c.condition();
            String desc = c == null ? null : c.description();
            boolean session = e instanceof ClientSessionRemotelyClosedException;
            if (session) {
                out.event("link_error", "link", null, "scope", "session", "condition", cond, "description", desc);
                return new Fatal("session ended with " + cond + ": " + desc);
            }
            out.event("link_error", "link", null, "condition", cond, "description", desc);
            String what = e instanceof ClientLinkRemotelyClosedException ? "link closed" : "closed";
            return new Fatal(what + " with " + cond + ": " + desc);
        }
        return raw;
    }
}
