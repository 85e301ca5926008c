"""The drive stage: the cell runs until its peers end, under one deadline.

While the peers work, the harness serves what the fault rules ask of it
(restart the broker) and watches the clock. Four things end a cell early:

- its deadline (peers still running are then killed by teardown, and the
  verdict says where the trace stopped);
- a peer that failed (the others get a short grace and are stopped, since
  they would only wait for their own timeouts; that failure speaks);
- a direct cell's listener that ended while a connecting peer goes on:
  nothing is left to connect to, so after a grace the harness stops it
  (``outlived-listener`` in the trace); what the peer then reports and the
  scenario's checks decide the cell;
- a peer that prints nothing for ``STALL_S`` after every other peer ended
  well: it waits for something that cannot come any more (a receiver whose
  credit ran out), and the cell fails with ``peer-stalled`` unless the
  peer had printed its result (then it was only slow to exit).

The last two only say sooner what the peer's timeout would have said
later; the stop and its reason are in the trace.
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
#: a connecting peer still running this long after its listener ended well is stopped
ORPHAN_GRACE_S = 5.0
#: a peer silent this long after every other peer ended well is stopped as stalled: a
#: peer that still works prints a line a message, and every reference peer retries a lost
#: connection within 1 s (their back-offs are capped there), so 5 s of silence is a stall
STALL_S = 5.0
#: the longest the loop waits without news; a peer's end and a fault rule's call wake it at once
IDLE_WAKE_S = 0.5
#: a peer whose stdout closed is reaped in waits this long (it has exited, or is about to)
REAP_S = 0.1


def drive(st: CellState) -> None:
    """Serve the fault rules' calls until every peer has ended, the deadline passed, or one failed.

    The loop sleeps on the cell's call queue: a fault rule's call and a
    peer's end (its stdout closing puts ``None`` there) wake it at once, so
    the cell goes on the moment its last peer exits rather than at the
    next tick of a poll.
    """
    failed_at: float | None = None
    while True:
        running = [p for p in st.procs.values() if p.running()]
        if not running:
            return
        if _broker_exited(st):
            return
        now = time.monotonic()
        if now > st.deadline:
            return
        failed_at = failed_at or _first_failure(st.procs)
        if failed_at is not None and now > failed_at + EARLY_STOP_GRACE:
            for label, p in st.procs.items():
                if p.running():
                    st.stopped_early.add(label)
                    st.note("stopped", peer=label, because="another peer failed")
            return
        wait = min(IDLE_WAKE_S, st.deadline - now)
        if failed_at is not None:
            wait = min(wait, failed_at + EARLY_STOP_GRACE - now)
        else:
            due = _stop_hopeless(st)
            if due is None:
                return
            wait = min(wait, due)
        ended = [p for p in running if p.stdout_closed]
        if ended:  # exited or about to: wait for the pid, not for the next wake-up
            ended[0].wait_exit(min(REAP_S, max(0.0, wait)))
            continue
        try:
            action = st.calls.get(timeout=max(0.0, wait))
        except queue.Empty:
            continue
        if action is not None and action.what == "restart-broker":
            restart_broker(st, action)


class BrokerExited(Exception):
    """The harness's own broker died under a cell: a harness fault (verdict error)."""


def _broker_exited(st: CellState) -> bool:
    """Whether the cell's broker died by itself; then every peer is stopped at once.

    The peers would otherwise wait for their own timeouts (30 minutes in a long
    run). The embedded broker is the harness's own, so its death is a harness
    fault (``error``, naming the stage); a broker under test that dies fails
    the cell with ``broker-exited``.
    """
    b = st.broker
    why = b.exited() if b is not None else None
    if b is None or why is None:
        return False
    st.note("broker-exited", why=why)
    for label, p in st.procs.items():
        if p.running():
            st.stopped_early.add(label)
    if b.ours:
        raise BrokerExited(f"the {b.name} broker {why}")
    st.failures.append(Failure("broker-exited", f"broker {b.name} {why} while the cell ran"))
    return True


def _stop_hopeless(st: CellState) -> float | None:
    """Stop a peer that outlived its listener or stalled; None if one was, else seconds to the next look."""
    ended_well = {
        label: _end(p) for label, p in st.procs.items() if not p.running() and p.returncode == 0
    }
    if not ended_well:
        return IDLE_WAKE_S
    now = st.clock.now()
    listeners = {r.label for r in st.cell.scenario.roles if r.listen} & set(ended_well)
    due = IDLE_WAKE_S
    for label, p in st.procs.items():
        if not p.running():
            continue
        who = f"{label} ({st.cell.role_map.get(label, '?')})"
        for listener in sorted(listeners):
            gone_for = now - ended_well[listener]
            if gone_for >= ORPHAN_GRACE_S:
                _stop(
                    st,
                    label,
                    "outlived-listener",
                    f"{who} was still running {gone_for:.1f} s after the listener {listener} "
                    "ended: nothing was left to connect to, so the harness stopped it",
                )
                return None
            due = min(due, ORPHAN_GRACE_S - gone_for)
        others = [ended_well[o] for o in st.procs if o != label and o in ended_well]
        if len(others) == len(st.procs) - 1:
            lines = p.events()
            last = max([lines[-1][0] if lines else (p.started_at or 0.0), *others])
            if now - last >= STALL_S:
                waiting = next(
                    (str(o["waiting_for"]) for _, o in reversed(lines) if o.get("waiting_for")),
                    None,
                )
                _stop(
                    st,
                    label,
                    "peer-stalled",
                    f"{who} printed nothing for {now - last:.1f} s after every other peer had "
                    f"ended: it waits for what cannot come any more, so the harness stopped it"
                    + (f" (waiting for {waiting})" if waiting else ""),
                )
                return None
            due = min(due, STALL_S - (now - last))
    return max(0.0, due)


def _stop(st: CellState, label: str, rule: str, text: str) -> None:
    """Mark ``label`` for teardown to stop; a failure of its own only when it cannot have finished.

    A peer that outlived its listener is only stopped: what it reports on
    SIGTERM (its confirmed count) and the scenario's checks decide the cell,
    so a peer slow to exit after a clean close is not failed. A stalled peer
    fails the cell unless it had already printed its result line (then it
    was only slow to exit).
    """
    st.stopped_early.add(label)
    st.note("stopped", peer=label, because=rule)
    printed_result = st.procs[label].result is not None
    if rule == "peer-stalled" and not printed_result:
        st.stops.append((label, rule, text))


def _end(p: ManagedProcess) -> float:
    span = p.span()
    return span[1] if span is not None else 0.0


def restart_broker(st: CellState, action: Call) -> None:
    """A fault rule asked for a broker restart: a restart that fails is the broker's failure."""
    if st.broker is None:
        return
    st.note("broker-restart", rule=action.reason)
    try:
        with st.off_the_clock():  # the broker's start-up is not the peers' time
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
