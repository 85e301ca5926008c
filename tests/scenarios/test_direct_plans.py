"""The direct scenario's two plans, checked on hand-made traces (no sockets).

Why: ``none`` (the receiver listens, direct_recv.py) and ``sender-listens``
(the sender listens, direct_send.py) hold the peers to different handshakes;
each plan's checks must see only its own cells, accept every legal order
(a connecting receiver may send its credit before or after the listener's
answer, 2.6.7), and name the side that broke a rule (a transfer before the
credit is the listening sender's, 2.6.7).
"""

from __future__ import annotations

import harness.scenarios as scenarios
import pytest
from harness.scenarios.direct import SCENARIO, SENDER_LISTENS

from harness.cells import generate
from harness.fault_plans import NO_FAULTS
from harness.peers import builtin
from harness.scenario import CellRun, PeerRun
from tests.trace.builders import TraceBuilder

COUNT = 3


def _run(events, plan=SENDER_LISTENS, confirmed=COUNT, received=COUNT) -> CellRun:
    sc = SCENARIO.for_plan(plan)
    peers = {
        "sender": PeerRun("sender", "python", [], 0, {"confirmed": confirmed}, []),
        "receiver": PeerRun("receiver", "go", [], 0, {"received": received}, []),
    }
    return CellRun(
        scenario=sc,
        plan=plan,
        count=COUNT,
        address="q",
        roles={"sender": "python", "receiver": "go"},
        peers=peers,
        trace=events,
        broker=None,
    )


def _failures(run: CellRun) -> dict[str, str]:
    return {f.rule: f.message for check in run.scenario.checks for f in check(run)}


def _flow(c, credit: int = 10) -> None:
    c.c("flow", handle=0, delivery_count=0, link_credit=credit, next_incoming_id=0)


def sender_listens_trace(*, flow_first: bool = True, early_transfer: bool = False):
    """simple_recv.py connects to direct_send.py: the receiver is the connection's client."""
    tb = TraceBuilder()
    c = tb.conn("receiver", "sender")
    c.open()
    c.c("attach", name="l", handle=0, role="receiver", source={"address": "q"})
    if flow_first:  # proton and rhea send the credit with the attach
        _flow(c)
    c.s("attach", name="l", handle=0, role="sender", source={"address": "q"})
    if early_transfer:
        c.transfer("sender", 0, 0, msg_id=1, body={"sequence": 1})
    if not flow_first:  # go-amqp waits for the answer
        _flow(c)
    for i in range(int(early_transfer), COUNT):
        c.transfer("sender", 0, i, msg_id=i + 1, body={"sequence": i + 1})
    for i in range(COUNT):
        c.accept("receiver", i)
    c.c("detach", handle=0, closed=True)
    c.s("detach", handle=0, closed=True)
    c.close()
    return tb.events


def receiver_listens_trace():
    """simple_send.py connects to direct_recv.py: the sender is the connection's client."""
    tb = TraceBuilder()
    c = tb.conn("sender", "receiver")
    c.open()
    c.attach_pair("l", "sender", "q")
    c.s("flow", handle=0, delivery_count=0, link_credit=10, next_incoming_id=0)
    for i in range(COUNT):
        c.transfer("sender", 0, i, msg_id=i + 1, body={"sequence": i + 1})
    for i in range(COUNT):
        c.accept("receiver", i)
    c.close()
    return tb.events


@pytest.mark.parametrize("flow_first", [True, False])
def test_sender_listens_passes_with_credit_before_or_after_the_answer(flow_first) -> None:
    assert _failures(_run(sender_listens_trace(flow_first=flow_first))) == {}


def test_a_transfer_before_the_credit_is_the_listening_senders_fault() -> None:
    got = _failures(_run(sender_listens_trace(flow_first=False, early_transfer=True)))
    assert set(got) == {"direct-sender-listens-credit"}
    assert got["direct-sender-listens-credit"].startswith(
        "broke 2.6.7 flow control (sender (python))"
    )


def test_a_receiver_that_never_grants_credit_fails_the_handshake_as_the_receivers() -> None:
    events = [
        e
        for e in sender_listens_trace()
        if not (e.name == "flow") and e.name not in ("transfer", "disposition")
    ]
    got = _failures(_run(events, confirmed=0, received=0))
    assert (
        "broke tutorial simple_recv.py: the receiver grants credit"
        in (got["direct-sender-listens-flow"])
    )
    assert "(receiver (go))" in got["direct-sender-listens-flow"]
    assert "confirmed 0 of 3" in got["direct-outcome"]


def test_each_plan_holds_only_its_own_cells_to_its_handshake() -> None:
    # the receiver-listens trace fails the sender-listens handshake, and the other way round
    assert _failures(_run(receiver_listens_trace(), plan=NO_FAULTS)) == {}
    assert "direct-sender-listens-flow" in _failures(_run(receiver_listens_trace()))
    assert set(_failures(_run(sender_listens_trace(), plan=NO_FAULTS))) == {"direct-flow"}


def test_every_connecting_receiver_meets_every_listening_sender() -> None:
    impls = list(builtin().values())
    cells = generate(scenarios.select(["direct"]), impls, ["embedded"])
    plan = [c for c in cells if c.fault.name == "sender-listens"]
    listeners = {i.name for i in impls if "listen" in i.capabilities}
    pairs = {(c.role_map["sender"], c.role_map["receiver"]) for c in plan}
    assert pairs == {(s, r.name) for s in listeners for r in impls}
    assert {"python", "cpp", "js", "java", "rust"} <= listeners
    assert not {"go", "jms", "pyamqp"} & listeners  # client-only: connectors, not failures
    assert "direct-sender-listens-java->go" in {c.id for c in plan}
    for c in plan:
        assert [(r.label, r.listen) for r in c.scenario.roles] == [
            ("sender", True),
            ("receiver", False),
        ]
