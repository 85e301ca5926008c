package interop.jms;

import interop.common.PeerBase;
import jakarta.jms.Session;

/** A contract role on one JMS session; returns when the role is done. */
interface JmsRole extends PeerBase.Role {
    void run(Session session) throws Exception;
}
