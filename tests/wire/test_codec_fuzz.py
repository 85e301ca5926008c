"""Property tests of the performative and value codec: round trips and mutated encodings.

The decoder reads untrusted bytes (whatever a broker or a peer writes), so
for any input it either returns frames whose fields are plain JSON or raises
``DecodeError`` with a one-line reason: never an IndexError, a struct.error,
a RecursionError, a UnicodeDecodeError or a proton exception. Valid frames
must come back field for field (encode -> decode is the identity).
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proton import Data

from harness.wire import DecodeError, Frame, FrameDecoder, encode_frame, encode_header
from harness.wire.values import MAX_DEPTH

from .amqp_strategies import amqp_value, frame_stream, mutate, mutation, performative, put_value

cfg = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: a reason is one line a verdict can quote
MAX_REASON = 300


def decode_all(stream: bytes, max_frame_size: int = 1 << 20) -> tuple[list, DecodeError | None]:
    """Everything the decoder gives for ``stream`` (fed whole, then eof), checked for usability."""
    dec = FrameDecoder(max_frame_size=max_frame_size)
    items: list = []
    err = None
    try:
        items = dec.feed(stream)
        dec.eof()
    except DecodeError as e:
        items, err = items or e.items, e
        assert "\n" not in e.reason and len(e.reason) <= MAX_REASON, e.reason[:400]
        assert 0 <= e.offset <= len(stream)
    for item in items:
        if isinstance(item, Frame):
            json.dumps(item.performative.fields if item.performative else None, allow_nan=False)
            json.dumps(item.message, allow_nan=False)
    return items, err


@cfg
@given(performative(), st.integers(0, 65535))
def test_every_performative_round_trips(p, channel) -> None:
    name, fields, expected = p
    layer = 3 if name.startswith("sasl_") else 0
    items, err = decode_all(encode_header(layer) + encode_frame(name, fields, channel))
    assert err is None
    frame = items[1]
    assert frame.name == name
    assert frame.performative.fields == expected


@cfg
@given(amqp_value, st.integers(0, 3))
def test_values_round_trip(v, depth) -> None:
    """Any AMQP value in a fields map (open.properties) reads back as its JSON form."""
    put, want = v
    d = Data()
    d.put_map()
    d.enter()
    d.put_symbol("k")
    for _ in range(depth):
        d.put_list()
        d.enter()
    put_value(d, put)
    for _ in range(depth):
        d.exit()
    d.exit()
    props = d.encode()
    for _ in range(depth):
        want = [want]
    body = encode_frame("open", {"container_id": "c"})
    # splice the map in as the 10th field (properties): rebuild the list by hand
    items, err = decode_all(encode_header() + _open_with_properties(props))
    assert err is None, err
    assert items[1].performative.fields["properties"] == {"k": want}
    assert body  # the plain open still encodes


def _open_with_properties(props: bytes) -> bytes:
    """An open frame whose properties field is the given encoded map (list32 built by hand)."""
    head = b"\xa1\x01c" + b"\x40" * 8  # container-id "c", then 8 nulls
    elems = head + props
    lst = b"\xd0" + (len(elems) + 4).to_bytes(4, "big") + (10).to_bytes(4, "big") + elems
    body = b"\x00\x53\x10" + lst
    return (8 + len(body)).to_bytes(4, "big") + b"\x02\x00\x00\x00" + body


@cfg
@given(frame_stream(), st.lists(mutation, min_size=1, max_size=4))
def test_mutated_frames(stream, muts) -> None:
    """Bit flips, lengths pushed to extremes, cuts, inserts, duplicated spans: never a crash."""
    data, _ = stream
    decode_all(mutate(data, muts, start=8))


@cfg
@given(frame_stream(), st.lists(mutation, min_size=1, max_size=4))
def test_mutated_bodies_in_intact_frames(stream, muts) -> None:
    """The frame header stays right, the body is broken: the performative decoder is the target."""
    data, _ = stream
    size = int.from_bytes(data[8:12], "big")
    body = mutate(data[16 : 8 + size], muts) or b"\x40"
    frame = (8 + len(body)).to_bytes(4, "big") + data[12:16] + body
    items, err = decode_all(data[:8] + frame)
    assert err is None or err.offset == 8


@cfg
@given(
    st.integers(1, 3 * MAX_DEPTH),
    st.sampled_from([b"\xc0\x01", b"\xc1\x02\xa1\x01k", b"\x00\x53\x99"]),
)
def test_deep_nesting(depth, opener) -> None:
    """Lists, maps and described values nested deep: a value or 'nested deeper', no RecursionError."""
    # list8/map8 sizes cannot cover deep nesting: use the 32-bit forms
    inner = b"\x40"
    for _ in range(depth):
        if opener == b"\x00\x53\x99":
            inner = opener + inner
        elif opener.startswith(b"\xc0"):
            inner = b"\xd0" + (len(inner) + 4).to_bytes(4, "big") + b"\x00\x00\x00\x01" + inner
        else:
            elems = b"\xa1\x01k" + inner
            inner = b"\xd1" + (len(elems) + 4).to_bytes(4, "big") + b"\x00\x00\x00\x02" + elems
    elems = b"\xa3\x01k" + inner
    props = b"\xd1" + (len(elems) + 4).to_bytes(4, "big") + b"\x00\x00\x00\x02" + elems
    items, err = decode_all(encode_header() + _open_with_properties(props))
    if err is not None:
        assert "nested deeper" in err.reason or "proton error" in err.reason, err.reason


@cfg
@given(st.binary(min_size=1, max_size=64))
def test_long_descriptors_give_short_reasons(junk) -> None:
    """A huge symbolic descriptor or string is quoted in a reason at a bounded length."""
    sym = (junk * 2000)[:70000]
    body = b"\x00\xb3" + len(sym).to_bytes(4, "big") + sym + b"\x45"
    frame = (8 + len(body)).to_bytes(4, "big") + b"\x02\x00\x00\x00" + body
    _, err = decode_all(encode_header() + frame)
    assert err is not None
    assert err.reason == "symbol is not ASCII" or err.reason.endswith(f"... ({len(sym)} chars)")
