package interop.jms;

import interop.common.PeerBase;
import java.util.List;

/**
 * The Qpid JMS reference peer of amqp-interop: one program, one role per run, JSON Lines on
 * stdout (peers/CONTRACT.md), written the way JMS users write it: a JmsConnectionFactory, a
 * CLIENT_ACKNOWLEDGE session, persistent (synchronous) sends, a temporary queue for replies.
 */
public final class Main {
    private Main() {}

    public static void main(String[] argv) {
        PeerBase.main(argv, List.of(), "JMS has no listener (this peer connects only)", JmsPeer::new);
    }
}
