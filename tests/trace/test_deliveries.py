"""DeliveryJoiner: the frames of a delivery become one transfer event (sans sockets).

Why: deliveries of different links and sessions interleave on one
connection; an aborted delivery or a detach ends one early; and what the
trace keeps must be a delivery a rule can count, whatever the framing.
"""

from __future__ import annotations

from harness.trace.deliveries import DeliveryJoiner
from harness.trace.model import CONN, FRAME, TraceEvent


def _t(t, handle, did=None, more=False, channel=0, src="broker", **fields):
    f = {"handle": handle, "delivery_id": did, "more": more, "payload_size": 10, **fields}
    return TraceEvent(t, FRAME, "transfer", "c1", src, "peer", channel, f)


def _joined(events):
    out: list[TraceEvent] = []
    j = DeliveryJoiner(out.append)
    for e in events:
        j.add(e)
    j.flush()
    return out


def test_interleaved_links_each_get_their_delivery():
    out = _joined(
        [
            _t(0.1, 0, 5, more=True),
            _t(0.2, 1, 9, more=True),
            _t(0.3, 0, more=True),
            _t(0.4, 1, message={"body": "b"}),
            _t(0.5, 0, message={"body": "a"}, settled=True),
        ]
    )
    assert [(e.fields["delivery_id"], e.fields["frames"], e.t) for e in out] == [
        (9, 2, 0.4),
        (5, 3, 0.5),
    ]
    assert out[1].fields["message"] == {"body": "a"} and out[1].fields["payload_size"] == 30
    assert out[1].fields["settled"] is True and out[1].fields["more"] is False


def test_an_aborted_delivery_ends_and_says_so():
    [e] = _joined([_t(0.1, 0, 1, more=True), _t(0.2, 0, more=True, aborted=True)])
    assert e.fields["aborted"] is True and e.fields["frames"] == 2


def test_a_detach_or_a_cut_records_what_was_unfinished_before_itself():
    detach = TraceEvent(0.3, FRAME, "detach", "c1", "broker", "peer", 0, {"handle": 0})
    out = _joined([_t(0.1, 0, 1, more=True), _t(0.2, 1, 2, more=True), detach])
    assert [e.name for e in out] == ["transfer", "detach", "transfer"]
    assert out[0].fields["handle"] == 0 and out[0].fields["more"] is True
    cut = TraceEvent(0.3, CONN, "cut", "c1", "peer", "broker")
    out = _joined([_t(0.1, 0, 1, more=True), cut])
    assert [e.name for e in out] == ["transfer", "cut"]


def test_single_frame_transfers_and_other_frames_pass_unchanged():
    flow = TraceEvent(0.1, FRAME, "flow", "c1", "peer", "broker", 0, {"link_credit": 1})
    one = _t(0.2, 0, 0)
    assert _joined([flow, one]) == [flow, one]
    assert "frames" not in one.fields
