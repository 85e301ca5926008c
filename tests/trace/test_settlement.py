"""Settlement modes on the wire: ``settle-mode`` (every trace) and ``unsettled-receive`` (at-least-once).

Why: pre-settled delivery is legal when the receiver leaves snd-settle-mode
at mixed, so only a promise broken is a violation; and an at-least-once
receiver that never asked for unsettled deliveries is the one to blame when
a broker legally delivers pre-settled and a cut loses the message.
"""

from __future__ import annotations

from harness.trace.basis import BROKER
from harness.trace.invariants import check
from tests.trace.builders import TraceBuilder

UNSETTLED, SETTLED, MIXED = 0, 1, 2


def _receiving(asked: int | None, answered: int | None, settled: list[bool], more=False):
    """The receiver peer consumes from the broker: its attach, the answer, transfers."""
    tb = TraceBuilder()
    c = tb.conn("receiver")
    c.open()
    mine = {"name": "q", "handle": 0, "role": "receiver", "source": {"address": "q"}}
    if asked is not None:
        mine["snd_settle_mode"] = asked
    c.c("attach", **mine)
    answer = {"name": "q", "handle": 0, "role": "sender", "source": {"address": "q"}}
    answer["initial_delivery_count"] = 0
    if answered is not None:
        answer["snd_settle_mode"] = answered
    c.s("attach", **answer)
    c.c("flow", handle=0, delivery_count=0, link_credit=10)
    for i, s in enumerate(settled):
        if more:
            c.transfer("broker", 0, i, more=True)
            c.transfer("broker", 0, None, msg_id=i, settled=s)
        else:
            c.transfer("broker", 0, i, msg_id=i, settled=s)
    c.close()
    return tb.events


def test_transfers_keep_the_declared_mode():
    assert check(_receiving(UNSETTLED, UNSETTLED, [False, False]), rules=["settle-mode"]) == []
    assert check(_receiving(None, None, [True, False]), rules=["settle-mode"]) == []  # mixed
    assert check(_receiving(SETTLED, SETTLED, [True]), rules=["settle-mode"]) == []


def test_a_settled_transfer_on_an_unsettled_link_is_the_senders_fault():
    [v] = check(_receiving(UNSETTLED, UNSETTLED, [False, True]), rules=["settle-mode"])
    assert v.side == BROKER
    assert "a settled delivery on link q, whose sender declared snd-settle-mode unsettled" in (
        v.message
    )
    assert "delivery_id=1" in v.message


def test_a_settled_link_must_settle_every_delivery_on_some_frame():
    [v] = check(_receiving(SETTLED, SETTLED, [True, False]), rules=["settle-mode"])
    assert "an unsettled delivery" in v.message
    # the settled flag may come on the last frame of a multi-frame delivery
    assert check(_receiving(SETTLED, SETTLED, [True], more=True), rules=["settle-mode"]) == []


def test_a_receiver_that_never_asked_for_unsettled_is_blamed():
    [v] = check(_receiving(None, None, [True]), rules=["unsettled-receive"])
    assert v.side == "receiver"
    assert "receiver->broker attach name=q" in v.message
    assert "asked for snd-settle-mode mixed, not unsettled" in v.message


def test_a_broker_that_answers_settled_is_blamed_at_its_attach():
    [v] = check(_receiving(UNSETTLED, SETTLED, [True]), rules=["unsettled-receive"])
    assert v.side == BROKER
    assert "broker->receiver attach name=q" in v.message
    assert "answered snd-settle-mode settled to a receiver that asked for unsettled" in v.message


def test_a_broker_that_answers_mixed_and_presettles_is_blamed_at_its_transfer():
    [v] = check(_receiving(UNSETTLED, MIXED, [False, True]), rules=["unsettled-receive"])
    assert v.side == BROKER and "transfer" in v.message and "pre-settled delivery" in v.message
    assert check(_receiving(UNSETTLED, UNSETTLED, [False]), rules=["unsettled-receive"]) == []


def test_unsettled_receive_leaves_senders_and_is_not_a_default_rule():
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.open()
    c.attach_pair("s", "sender")  # the broker receives here: not a consuming peer
    c.close()
    assert check(tb.events, rules=["unsettled-receive"]) == []
    assert [v.rule for v in check(_receiving(None, None, [True]))] == []
