package interop.peer;

import interop.common.PeerBase;

/**
 * The protonj2 reference peer of amqp-interop: one program, one role per run, JSON Lines on
 * stdout (peers/CONTRACT.md). Connecting roles use protonj2's imperative client; --listen uses
 * protonj2's engine as a server over java.nio sockets (the client cannot listen).
 */
public final class Main {
    private Main() {}

    public static void main(String[] argv) {
        PeerBase.main(argv, Listener.ROLES, "", o -> o.listen ? Listener.create(o) : new ClientPeer(o));
    }
}
