"""Property tests: any chunking decodes the same; bad bytes only ever give DecodeError.

The tap feeds the decoder whatever the network gives it, on the forwarding
path, so the decoder must neither depend on chunk boundaries nor crash, hang
or hoard memory on garbage.
"""

from __future__ import annotations

import functools
import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness.wire import DecodeError, Frame, FrameDecoder, encode_frame, encode_header

from .proton_session import record_session

MAX = 4096


@functools.cache
def _streams() -> tuple[bytes, ...]:
    a = record_session(sasl=None, big_body_size=9000)
    b = record_session(sasl="ANONYMOUS", big_body_size=9000)
    return (bytes(a.client), bytes(a.server), bytes(b.client), bytes(b.server))


@functools.cache
def _decoded(i: int) -> list:
    return FrameDecoder().feed(_streams()[i])


def _summary(items: list) -> list:
    return [(i, getattr(i, "message", None)) for i in items]


def _check_items(items: list) -> None:
    """Whatever the decoder yields must be usable: JSON-ready fields, a summary that works."""
    for item in items:
        if isinstance(item, Frame):
            json.dumps(item.performative.fields if item.performative else None)
            json.dumps(item.message)
            assert item.name


def _feed_all(dec: FrameDecoder, chunks: list[bytes]) -> list:
    out: list = []
    for c in chunks:
        out += dec.feed(c)
        assert dec.buffered <= dec.max_frame_size + 8
    return out


cfg = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cfg
@given(which=st.integers(0, 3), cuts=st.lists(st.integers(0, 30000), max_size=40))
def test_any_chunking_decodes_the_same(which, cuts):
    data = _streams()[which]
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    dec = FrameDecoder(max_frame_size=MAX)
    items = _feed_all(dec, chunks)
    dec.eof()
    assert _summary(items) == _summary(_decoded(which))


@cfg
@given(
    data=st.binary(max_size=2000),
    after_header=st.booleans(),
    max_frame=st.sampled_from([8, 64, MAX]),
)
def test_random_bytes_give_decode_error_or_items(data, after_header, max_frame):
    stream = (encode_header(0) if after_header else b"") + data
    dec = FrameDecoder(max_frame_size=max_frame)
    try:
        items = _feed_all(dec, [stream[:7], stream[7:]])
        _check_items(items)
        dec.eof()
    except DecodeError as e:
        assert 0 <= e.offset <= len(stream)
        assert str(e).startswith(f"offset {e.offset}: ")
        _check_items(e.items)


@cfg
@given(which=st.integers(0, 3), cut=st.integers(0, 30000), step=st.integers(1, 5000))
def test_truncated_streams(which, cut, step):
    data = _streams()[which]
    cut %= len(data)
    dec = FrameDecoder(max_frame_size=MAX)
    items = _feed_all(dec, [data[i : min(i + step, cut)] for i in range(0, cut, step)])
    ends = {i.offset + (i.size if isinstance(i, Frame) else 8) for i in _decoded(which)} | {0}
    try:
        dec.eof()
        assert cut in ends  # only a cut at an item boundary is a clean end
    except DecodeError as e:
        assert cut not in ends
        assert e.reason.startswith("truncated")
        assert e.offset == max(x for x in ends if x <= cut)
    assert _summary(items) == _summary([i for i in _decoded(which) if i.offset < cut])[: len(items)]


@cfg
@given(
    which=st.integers(0, 3),
    flips=st.lists(st.tuples(st.integers(0, 30000), st.integers(0, 7)), min_size=1, max_size=4),
    step=st.sampled_from([1, 7, 100, 100000]),
)
def test_bit_flips_never_crash(which, flips, step):
    data = bytearray(_streams()[which])
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    dec = FrameDecoder(max_frame_size=MAX)
    chunks = [bytes(data[i : i + step]) for i in range(0, len(data), step)]
    try:
        _check_items(_feed_all(dec, chunks))
        dec.eof()
    except DecodeError as e:
        _check_items(e.items)


@cfg
@given(
    data=st.binary(min_size=1, max_size=300),
    frame_type=st.sampled_from([0, 1]),
)
def test_random_frame_bodies(data, frame_type):
    """A well-framed frame around an arbitrary body: the performative decoding is the target."""
    header = encode_header(3 if frame_type else 0)
    frame = (8 + len(data)).to_bytes(4, "big") + bytes((2, frame_type, 0, 0)) + data
    try:
        _check_items(FrameDecoder().feed(header + frame))
    except DecodeError as e:
        assert e.offset == 8


_uint = st.integers(0, 2**32 - 1)


@cfg
@given(
    flow=st.fixed_dictionaries(
        {
            "next_incoming_id": st.none() | _uint,
            "incoming_window": _uint,
            "next_outgoing_id": _uint,
            "outgoing_window": _uint,
            "handle": st.none() | _uint,
            "delivery_count": st.none() | _uint,
            "link_credit": st.none() | _uint,
            "available": st.none() | _uint,
            "drain": st.none() | st.booleans(),
            "echo": st.none() | st.booleans(),
            "properties": st.none()
            | st.dictionaries(
                st.text(st.characters(max_codepoint=127), max_size=10),  # symbol keys: ASCII
                st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
                max_size=4,
            ),
        }
    ),
    channel=st.integers(0, 65535),
)
def test_flow_round_trip(flow, channel):
    frame = FrameDecoder().feed(encode_header() + encode_frame("flow", flow, channel))[1]
    assert frame.channel == channel
    assert frame.performative.fields == flow


@cfg
@given(
    tag=st.binary(max_size=32),
    payload=st.binary(max_size=200),
    handle=_uint,
    more=st.none() | st.booleans(),
)
def test_transfer_round_trip(tag, payload, handle, more):
    fields = {"handle": handle, "delivery_tag": tag.hex(), "more": more}
    frame = FrameDecoder().feed(encode_header() + encode_frame("transfer", fields, 0, payload))[1]
    assert frame.payload == payload
    got = {k: v for k, v in frame.performative.fields.items() if k in fields}
    assert got == fields
    assume(not more)
    json.dumps(frame.message)
