"""Framing rules of the decoder: what it accepts, what it rejects, and how it fails."""

from __future__ import annotations

import json
import pickle
import struct

import pytest

from harness.wire import (
    MAX_MESSAGE_JOIN,
    DecodeError,
    Frame,
    FrameDecoder,
    ProtocolHeader,
    encode_empty_frame,
    encode_frame,
    encode_header,
)
from harness.wire.encode import encode_performative

HDR = encode_header(0)
OPEN = encode_frame("open", {"container_id": "c"})


def _raw_frame(body: bytes, doff: int = 2, ftype: int = 0, channel: int = 0, size=None) -> bytes:
    ext = b"\0" * (doff * 4 - 8) if doff >= 2 else b""
    n = size if size is not None else 8 + len(ext) + len(body)
    return struct.pack(">IBBH", n, doff, ftype, channel) + ext + body


def _error(data: bytes, **kw) -> DecodeError:
    dec = FrameDecoder(**kw)
    with pytest.raises(DecodeError) as e:
        dec.feed(data)
        dec.eof()
    return e.value


def test_header_and_frames():
    items = FrameDecoder().feed(HDR + OPEN + encode_empty_frame())
    h, o, e = items
    assert h == ProtocolHeader(0, 0, 1, 0, 0) and h.name == "amqp"
    assert o.name == "open" and o.offset == 8 and o.size == len(OPEN) and o.channel == 0
    assert o.performative.descriptor == 0x10 and o.performative.container_id == "c"
    assert o.payload == b"" and o.payload_size == 0 and o.message is None
    assert e.name == "empty" and e.performative is None and e.offset == 8 + len(OPEN)


def test_protocol_header_names():
    assert ProtocolHeader(0, 3, 1, 0, 0).name == "sasl"
    assert ProtocolHeader(0, 2, 1, 0, 0).name == "tls"


def test_extended_header_is_skipped():
    body = encode_performative(
        "begin", {"next_outgoing_id": 1, "incoming_window": 2, "outgoing_window": 3}
    )
    (hdr, f) = FrameDecoder().feed(HDR + _raw_frame(body, doff=4, channel=7))
    assert f.doff == 4 and f.channel == 7 and f.performative.next_outgoing_id == 1


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"HTTP/1.1", "bad protocol header magic"),
        (b"AMQP\x00\x00\x09\x01", "unsupported protocol header"),
        (b"AMQP\x01\x01\x00\x0a", "unsupported protocol header"),
        (HDR + struct.pack(">IBBH", 7, 2, 0, 0), "frame size 7 < 8"),
        (HDR + struct.pack(">IBBH", 8, 1, 0, 0), "data offset 1 < 2"),
        (HDR + struct.pack(">IBBH", 12, 4, 0, 0) + b"\0" * 4, "beyond frame size"),
        (HDR + struct.pack(">IBBH", 8, 2, 5, 0), "unknown frame type 0x05"),
        (HDR + struct.pack(">IBBH", 2**31, 2, 0, 0), "> max frame size"),
        (HDR + _raw_frame(b"\x45"), "not a described type"),
        (HDR + _raw_frame(b"\x00\x53\x99\x45"), "unknown performative descriptor 0x99"),
        (HDR + _raw_frame(b"\x00\x53\x10\xa1\x01x"), "open body is not a list"),
        (HDR + _raw_frame(b"\x00\x53\x10"), "undecodable performative"),
        (HDR + _raw_frame(b"\x00\x53\x10\x45"), "mandatory field container_id"),
        (HDR + _raw_frame(b"\xff\xff\xff"), "undecodable performative"),
        (HDR + _raw_frame(encode_performative("close", {}) + b"junk"), "4 bytes after the close"),
        (
            HDR + _raw_frame(encode_performative("sasl_outcome", {"code": 0})),
            "sasl_outcome in an AMQP",
        ),
        (HDR + _raw_frame(encode_performative("close", {}), ftype=1), "SASL frame after AMQP"),
        (encode_header(3) + encode_empty_frame(), "AMQP frame after SASL"),
        (encode_header(2) + b"\x16\x03\x01\x00\x00\x00\x00\x00", "TLS"),
        (encode_header(3) + _raw_frame(b"", ftype=1), "empty SASL frame"),
        (
            HDR + _raw_frame(b"\x00\x53\x16\xc0\x03\x01\xa1\x00"),
            "detach.handle: expected an integer",
        ),
        (HDR + _raw_frame(b"\x00\x53\x17\xc0\x03\x02\x40\x40"), "end has 2 fields"),
        (HDR + _raw_frame(b"\x00\x53\x10\xc0\x04\x01\xa1\x01\xff"), "not valid UTF-8"),
    ],
)
def test_rejects(data, reason):
    e = _error(data)
    assert reason in e.reason
    assert str(e) == f"offset {e.offset}: {e.reason}"


def test_error_offset_is_where_the_bad_item_starts():
    bad = _raw_frame(b"\x00\x53\x99\x45")
    e = _error(HDR + OPEN + bad)
    assert e.offset == len(HDR + OPEN)
    assert [i.name for i in e.items] == ["amqp", "open"]


def test_oversized_frame_is_rejected_from_its_first_four_bytes():
    dec = FrameDecoder(max_frame_size=512)
    dec.feed(HDR)
    with pytest.raises(DecodeError) as e:
        dec.feed(struct.pack(">I", 513))
    assert e.value.offset == 8


def test_failed_decoder_stays_failed():
    dec = FrameDecoder()
    with pytest.raises(DecodeError) as first:
        dec.feed(b"XMQP")
    for more in (HDR, b"", OPEN):
        with pytest.raises(DecodeError) as again:
            dec.feed(more)
        assert again.value is first.value
    with pytest.raises(DecodeError) as at_eof:
        dec.eof()
    assert at_eof.value is first.value


def test_eof_reports_truncation():
    dec = FrameDecoder()
    assert dec.feed(HDR + OPEN[:10]) == [ProtocolHeader(0, 0, 1, 0, 0)]
    assert dec.offset == 18 and dec.buffered == 10  # bytes fed; the partial frame starts at 8
    with pytest.raises(DecodeError) as e:
        dec.eof()
    assert e.value.offset == 8
    assert e.value.reason == f"truncated frame: 10 of {len(OPEN)} bytes"
    dec = FrameDecoder()
    dec.feed(b"AMQ")
    with pytest.raises(DecodeError, match="truncated protocol header"):
        dec.eof()
    dec = FrameDecoder()
    dec.feed(HDR)
    dec.eof()  # a clean boundary is fine


def test_header_may_follow_any_frame_boundary():
    data = encode_header(3) + encode_frame("sasl_outcome", {"code": 0}) + HDR + OPEN
    assert [i.name for i in FrameDecoder().feed(data)] == ["sasl", "sasl_outcome", "amqp", "open"]


def test_never_buffers_more_than_a_frame():
    dec = FrameDecoder(max_frame_size=4096)
    big = encode_frame("transfer", {"handle": 0, "delivery_id": 0}, payload=b"x" * 4000)
    stream = HDR + big * 50
    out = []
    for i in range(0, len(stream), 3000):
        out += dec.feed(stream[i : i + 3000])
        assert dec.buffered <= 4096 + 8
    assert len(out) == 51


def test_decode_error_pickles():
    e = pickle.loads(pickle.dumps(DecodeError(5, "bad")))
    assert (e.offset, e.reason, str(e)) == (5, "bad", "offset 5: bad")


def _transfer(handle, payload, **fields):
    return encode_frame("transfer", {"handle": handle, **fields}, channel=1, payload=payload)


def _message_bytes(body: str) -> bytes:
    from proton import Message

    return Message(id=7, body=body, reply_to="r").encode()


def test_multi_frame_message_is_joined_per_link():
    m1, m2 = _message_bytes("a" * 50), _message_bytes("b" * 50)
    stream = HDR + b"".join(
        [
            _transfer(0, m1[:20], delivery_id=0, more=True),
            _transfer(1, m2[:10], delivery_id=1, more=True),
            _transfer(0, m1[20:40], more=True),
            _transfer(1, m2[10:], more=False),
            _transfer(0, m1[40:]),
        ]
    )
    frames = [i for i in FrameDecoder().feed(stream) if isinstance(i, Frame)]
    assert [f.message for f in frames[:3]] == [None, None, None]
    assert frames[3].message["body"] == "b" * 50
    assert frames[4].message == {
        "id": 7,
        "to": None,
        "reply_to": "r",
        "correlation_id": None,
        "subject": None,
        "body": "a" * 50,
    }
    json.dumps([f.message for f in frames])


def test_aborted_and_oversized_messages_have_no_summary():
    m = _message_bytes("z" * 100)
    aborted = HDR + _transfer(0, m[:30], delivery_id=0, more=True) + _transfer(0, b"", aborted=True)
    aborted += _transfer(0, m, delivery_id=1)
    frames = FrameDecoder().feed(aborted)[1:]
    assert frames[1].message is None and frames[2].message["body"] == "z" * 100
    chunk = b"\0" * (512 * 1024)
    huge = HDR + b"".join(_transfer(0, chunk, more=True) for _ in range(3)) + _transfer(0, b"x")
    frames = FrameDecoder().feed(huge)[1:]
    assert len(frames) == 4 and frames[-1].message is None
    assert MAX_MESSAGE_JOIN == 1024 * 1024


def test_detach_drops_a_partial_message():
    m = _message_bytes("q")
    stream = HDR + _transfer(0, m[:5], delivery_id=0, more=True)
    stream += encode_frame("detach", {"handle": 0}, channel=1)
    stream += _transfer(0, m, delivery_id=1)
    dec = FrameDecoder()
    frames = dec.feed(stream)
    assert frames[-1].message["body"] == "q"
    assert dec._partial == {}


def test_undecodable_payload_has_no_summary():
    frames = FrameDecoder().feed(HDR + _transfer(0, b"\x00\x53\x77"))
    assert frames[1].message is None
    frames = FrameDecoder().feed(HDR + _transfer(0, b"garbage!"))
    assert frames[1].message is None


def test_body_kinds_in_summary():
    from proton import Message

    def summary(body):
        return FrameDecoder().feed(HDR + _transfer(0, Message(body=body).encode()))[1].message

    assert summary({"sequence": 3}) == {**summary({"sequence": 3}), "body": {"sequence": 3}}
    assert summary(b"\x01\x02")["body"] == "0102"
    assert summary(["a" * 300])["body"] == ["a" * 200 + "...(300 chars)"]
    assert summary(None)["body"] is None


def test_bytearray_and_memoryview_input():
    data = bytearray(HDR + OPEN)
    assert len(FrameDecoder().feed(data)) == 2
    assert len(FrameDecoder().feed(memoryview(bytes(data)))) == 2


def test_offset_counts_bytes_fed_so_items_can_be_located_in_a_chunk():
    stream = HDR + OPEN + encode_empty_frame() + OPEN
    dec = FrameDecoder()
    chunks = [stream[:5], stream[5:20], stream[20:]]
    for chunk in chunks:
        base = dec.offset
        for item in dec.feed(chunk):
            start = item.offset - base
            size = item.size if isinstance(item, Frame) else 8
            if start >= 0:
                assert chunk[start : start + size] == stream[item.offset : item.offset + size]
        assert dec.offset == base + len(chunk)
    assert dec.offset == len(stream) and dec.buffered == 0


def test_caller_buffer_is_not_held_after_feed_or_error():
    good = bytearray(HDR + OPEN + OPEN[:5])
    dec = FrameDecoder()
    dec.feed(good)
    good.extend(b"more")  # would raise BufferError if a view were still exported
    bad = bytearray(HDR + _raw_frame(b"\x00\x53\x99\x45"))
    dec = FrameDecoder()
    with pytest.raises(DecodeError):
        dec.feed(bad)
    bad.extend(b"more")
    with pytest.raises(DecodeError):
        dec.feed(b"x")
    bad.clear()


def test_a_header_completed_by_its_last_byte_is_emitted_and_the_stream_ends_cleanly() -> None:
    """Regression (found by test_fuzz): a protocol header fed byte by byte, whose 8th byte was
    the last of a chunk, stayed buffered, and eof() called it truncated at 8 of 8 bytes."""
    from harness.wire.codec import FrameDecoder, ProtocolHeader

    dec = FrameDecoder()
    items = []
    for b in b"AMQP\x03\x01\x00\x00":
        items += dec.feed(bytes([b]))
    assert [type(i) for i in items] == [ProtocolHeader]
    dec.eof()  # nothing partial is left
