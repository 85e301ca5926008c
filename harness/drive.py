"""The drive stage: the cell runs until its peers end, under one deadline.

While the peers work, the harness serves what the fault rules ask of it
(restart the broker) and watches the clock. Two things end a cell early:
its deadline (peers still running are then killed by teardown, and the
verdict says where the trace stopped), and a peer that failed (the others
get a short grace and are stopped, since they would only wait for their
own timeouts).
"""

from __future__ import annotations

import queue
import time

from harness.brokers.base import BrokerError
from harness.cell_state import CellState
from harness.process import ManagedProcess
from harness.scenario import Failure
from harness.wire.faults import Call

#: once a peer has failed, the others get this long to finish before the harness stops them
EARLY_STOP_GRACE = 2.0
#: how often the loop looks at the peers and the fault rules' requests
POLL_S = 0.05


def drive(st: CellState) -> None:
    """Serve the fault rules' calls until every peer has ended, the deadline passed, or one failed."""
    failed_at: float | None = None
    while any(p.running() for p in st.procs.values()):
        try:
            action = st.calls.get(timeout=POLL_S)
        except queue.Empty:
            action = None
        if action is not None and action.what == "restart-broker":
            restart_broker(st, action)
        if time.monotonic() > st.deadline:
            return
        failed_at = failed_at or _first_failure(st.procs)
        if failed_at is not None and time.monotonic() > failed_at + EARLY_STOP_GRACE:
            for label, p in st.procs.items():
                if p.running():
                    st.stopped_early.add(label)
                    st.note("stopped", peer=label, because="another peer failed")
            return


def restart_broker(st: CellState, action: Call) -> None:
    """A fault rule asked for a broker restart: a restart that fails is the broker's failure."""
    if st.broker is None:
        return
    st.note("broker-restart", rule=action.reason)
    try:
        st.broker.restart()
        st.note("broker-restarted")
    except BrokerError as e:
        st.failures.append(Failure("broker-restart", f"broker restart failed: {e}"))


def _first_failure(procs: dict[str, ManagedProcess]) -> float | None:
    """When a peer has exited with a failure, the time we noticed it."""
    for p in procs.values():
        rc = p.returncode
        if rc is not None and rc != 0:
            return time.monotonic()
    return None
