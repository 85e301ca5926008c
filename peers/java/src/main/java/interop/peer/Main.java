package interop.peer;

import interop.common.PeerBase;
import java.util.List;

/**
 * The protonj2 reference peer of amqp-interop: one program, one role per run, JSON Lines on
 * stdout (peers/CONTRACT.md). Connecting roles use protonj2's imperative client; --listen uses
 * protonj2's engine as a server over java.nio sockets (the client cannot listen).
 */
public final class Main {
    private Main() {}

    public static void main(String[] argv) {
        PeerBase.main(argv, List.of(), "protonj2's client cannot listen", ClientPeer::new);
    }
}
