"""session-window: no transfer frame beyond the partner's incoming window (AMQP 1.0 2.5.6).

Why: the embedded:small-frames broker grants session windows of 4 frames;
a peer that ignores them sends more than the broker said it would take, and
nothing else in the trace would say so. Split deliveries spend one
transfer-id per frame.
"""

from __future__ import annotations

from harness.trace.basis import BROKER
from harness.trace.invariants import check
from tests.trace.builders import TraceBuilder


def _sender(window: int, frames: list[int], flow_at: int | None = None, more_window: int = 0):
    """A peer sends deliveries of ``frames[k]`` frames each; the broker's begin grants
    ``window``; optionally a flow after delivery ``flow_at`` widens it by ``more_window``."""
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.headers()
    c.c("open", container_id="s")
    c.s("open", container_id="b")
    c.c("begin", next_outgoing_id=10, incoming_window=100, outgoing_window=100)
    c.s("begin", remote_channel=0, next_outgoing_id=0, incoming_window=window, outgoing_window=4)
    c.attach_pair("L", "sender")
    c.s("flow", handle=0, delivery_count=0, link_credit=50)
    sent = 10
    for k, n in enumerate(frames):
        fields = {"frames": n} if n > 1 else {}
        c.frame("sender", "transfer", handle=0, delivery_id=k, delivery_tag=f"t{k}", **fields)
        sent += n
        if flow_at == k:
            c.s("flow", next_incoming_id=sent, incoming_window=more_window, next_outgoing_id=0)
    c.close()
    return tb.events


def test_transfers_within_the_window_pass():
    assert check(_sender(4, [1, 1, 2]), rules=["session-window"]) == []
    assert check(_sender(2, [1, 1, 1, 1], flow_at=1, more_window=2), rules=["session-window"]) == []


def test_a_frame_beyond_the_window_is_the_senders_fault():
    [v] = check(_sender(4, [1, 1, 1, 1, 1]), rules=["session-window"])
    assert v.side == "sender"
    assert "c1 sender->broker transfer handle=0 delivery_id=4" in v.message
    assert (
        "1 transfer frame(s) beyond the incoming window broker granted (up to transfer-id 14"
        in (v.message)
    )


def test_a_split_delivery_spends_one_transfer_id_per_frame():
    [v] = check(_sender(4, [3, 2]), rules=["session-window"])
    assert "delivery_id=1" in v.message and "1 transfer frame(s) beyond" in v.message


def test_a_broker_that_sends_beyond_the_peers_window_is_blamed():
    tb = TraceBuilder()
    c = tb.conn("receiver")
    c.headers()
    c.c("open", container_id="r")
    c.s("open", container_id="b")
    c.c("begin", next_outgoing_id=0, incoming_window=1, outgoing_window=100)
    c.s("begin", remote_channel=0, next_outgoing_id=7, incoming_window=100, outgoing_window=100)
    c.attach_pair("L", "receiver")
    c.c("flow", handle=0, delivery_count=0, link_credit=5)
    c.transfer("broker", 0, 0)
    c.transfer("broker", 0, 1)
    [v] = check(tb.events, rules=["session-window"])
    assert v.side == BROKER and "delivery_id=1" in v.message
