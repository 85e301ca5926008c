"""Multi-frame deliveries and heartbeats through the tap.

Why: a broker with a small max-frame-size splits every message over several
transfer frames (legal: AMQP 1.0 2.6.14), and one with an idle time-out
sends empty frames (2.3.2, 2.4.5). The trace must show a split delivery as
one delivery with its frame count, so patterns, invariants and readers see
deliveries whatever the framing; and it must keep heartbeats, which patterns
then ignore. Both decoding modes (live, with fault rules; deferred, without)
must record alike.
"""

from __future__ import annotations

import time

from harness.trace.model import FRAME
from harness.wire.encode import encode_empty_frame, encode_frame
from harness.wire.faults import CutAfter
from tests.tap.test_proxy import (
    MODES,
    NEVER,
    Recorder,
    Server,
    connect,
    opening,
    read_until_closed,
    start_tap,
)

#: an AmqpValue section holding the string "split over three frames"
BODY = "split over three frames"
SECTION = b"\x00Sw\xa1" + bytes([len(BODY)]) + BODY.encode()


def _pieces(delivery_id: int, settle_last: bool = False) -> list[bytes]:
    """One delivery in three transfer frames: only the first carries the id and tag."""
    cut = [SECTION[:6], SECTION[6:15], SECTION[15:]]
    first = {"handle": 0, "delivery_id": delivery_id, "delivery_tag": b"t", "more": True}
    last: dict = {"handle": 0}
    if settle_last:
        last["settled"] = True
    return [
        encode_frame("transfer", first, payload=cut[0]),
        encode_frame("transfer", {"handle": 0, "more": True}, payload=cut[1]),
        encode_frame("transfer", last, payload=cut[2]),
    ]


def _transfers(rec: Recorder):
    return rec.of(FRAME, "transfer")


def _wait_received(server: Server, n: int) -> None:
    deadline = time.monotonic() + 5
    while not server.received or len(server.received[0]) < n:
        assert time.monotonic() < deadline, "the server did not get everything"
        time.sleep(0.01)


@MODES
def test_a_split_delivery_is_one_transfer_with_its_frame_count(servers, taps, rules) -> None:
    server = Server("sink")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(taps, server.port, rec, rules=rules())
    beat = encode_empty_frame()
    a, b, c = _pieces(0, settle_last=True)
    single = encode_frame(
        "transfer", {"handle": 0, "delivery_id": 1, "delivery_tag": b"u"}, payload=SECTION
    )
    stream = opening() + a + beat + b + beat + c + single + beat
    with connect(tap.port) as s:
        s.sendall(stream)
        _wait_received(server, len(stream))
    tap.stop()
    assert bytes(server.received[0]) == stream  # forwarded unchanged, frame by frame
    joined, alone = _transfers(rec)
    assert joined.fields["frames"] == 3
    assert joined.fields["delivery_id"] == 0 and joined.fields["delivery_tag"] == "74"  # hex
    assert joined.fields["more"] is False and joined.fields["settled"] is True
    assert joined.fields["payload_size"] == len(SECTION)
    assert joined.fields["message"]["body"] == BODY
    assert "frames" not in alone.fields and alone.fields["message"]["body"] == BODY
    beats = rec.of(FRAME, "empty")
    assert len(beats) == 3 and all(e.src == "client" for e in beats)


@MODES
def test_a_delivery_cut_off_mid_way_is_recorded_as_it_stood(servers, taps, rules) -> None:
    server = Server("sink")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(taps, server.port, rec, rules=rules())
    a, b, _c = _pieces(4)
    with connect(tap.port) as s:
        s.sendall(opening() + a + b)
        _wait_received(server, len(opening() + a + b))
    server.wait_ended(0)
    tap.stop()
    [partial] = _transfers(rec)
    assert partial.fields["frames"] == 2 and partial.fields["more"] is True
    assert partial.fields["delivery_id"] == 4 and "message" not in partial.fields


def test_fault_rules_still_count_whole_deliveries(servers, taps) -> None:
    server = Server("sink")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(taps, server.port, rec, rules=[CutAfter("transfer", 2, "client"), NEVER()])
    stream = opening() + b"".join(_pieces(0)) + b"".join(_pieces(1)) + b"".join(_pieces(2))
    with connect(tap.port) as s:
        s.sendall(stream)
        assert read_until_closed(s) == b""
    server.wait_ended(0)
    tap.stop()
    assert [t.fields["delivery_id"] for t in _transfers(rec)] == [0, 1]
    assert [t.fields["frames"] for t in _transfers(rec)] == [3, 3]
