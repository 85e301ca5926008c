package interop.peer;

import interop.common.PeerBase;
import org.apache.qpid.protonj2.client.Connection;

/** A contract role on one open protonj2 connection; returns when the role is done. */
interface ClientRole extends PeerBase.Role {
    void run(Connection conn) throws Exception;
}
