"""Property tests of the SASL layer: the SASL header, its frames, and the switch to AMQP.

The SASL exchange is the first thing a server or client sends, before any
authentication, so it is the most exposed input the tap decodes. Whatever
the bytes, the decoder yields items or a ``DecodeError`` naming the offset.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.wire import DecodeError, FrameDecoder, ProtocolHeader, encode_frame, encode_header

from .amqp_strategies import mutate, mutation
from .test_codec_fuzz import decode_all

cfg = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _exchange(mechs: list[str], response: bytes, code: int, hostname: str | None) -> bytes:
    """Both directions of a SASL exchange and the start of AMQP, as one stream."""
    return (
        encode_header(3)
        + encode_frame("sasl_mechanisms", {"sasl_server_mechanisms": mechs})
        + encode_frame(
            "sasl_init", {"mechanism": "PLAIN", "initial_response": response, "hostname": hostname}
        )
        + encode_frame("sasl_challenge", {"challenge": response})
        + encode_frame("sasl_response", {"response": response[::-1]})
        + encode_frame("sasl_outcome", {"code": code, "additional_data": response})
        + encode_header(0)
        + encode_frame("open", {"container_id": "c"})
    )


_exchanges = st.builds(
    _exchange,
    st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=10), max_size=4),
    st.binary(max_size=64),
    st.integers(0, 255),
    st.none() | st.text(max_size=20),
)


@cfg
@given(_exchanges)
def test_exchange_decodes_in_order(stream) -> None:
    items, err = decode_all(stream)
    assert err is None
    names = [i.name for i in items]
    assert names == ["sasl", "sasl_mechanisms", "sasl_init", "sasl_challenge"] + [
        "sasl_response",
        "sasl_outcome",
        "amqp",
        "open",
    ]


@cfg
@given(_exchanges, st.lists(mutation, min_size=1, max_size=4))
def test_mutated_exchange(stream, muts) -> None:
    decode_all(mutate(stream, muts))


@cfg
@given(_exchanges, st.integers(1, 7))
def test_any_chunking_of_an_exchange(stream, step) -> None:
    dec = FrameDecoder()
    got = []
    for i in range(0, len(stream), step):
        got += dec.feed(stream[i : i + step])
    dec.eof()
    assert [i.name for i in got] == [i.name for i in decode_all(stream)[0]]
    assert isinstance(got[0], ProtocolHeader)


@cfg
@given(st.binary(max_size=200))
def test_random_bytes_after_the_sasl_header(data) -> None:
    items, err = decode_all(encode_header(3) + data)
    assert items and items[0].name == "sasl"


def test_layer_mismatches_are_decode_errors() -> None:
    open_frame = encode_frame("open", {"container_id": "c"})
    empty = (8).to_bytes(4, "big") + b"\x02\x01\x00\x00"
    sasl_in_amqp = encode_frame("sasl_outcome", {"code": 0}, frame_type=0)
    for stream, reason in [
        (encode_header(3) + open_frame, "AMQP frame after SASL protocol header"),
        (encode_header(3) + empty, "empty SASL frame"),
        (encode_header(0) + sasl_in_amqp, "sasl_outcome in an AMQP frame"),
    ]:
        try:
            FrameDecoder().feed(stream)
        except DecodeError as e:
            assert (e.offset, e.reason) == (8, reason)
        else:
            raise AssertionError(f"no DecodeError for {reason}")
