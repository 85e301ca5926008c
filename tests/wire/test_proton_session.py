"""Frames written by proton itself decode into the expected performatives and fields."""

from __future__ import annotations

import json

import pytest

from harness.wire import DecodeError, Frame, FrameDecoder, ProtocolHeader

from .proton_session import record_plain_client, record_session


def _decode(data: bytes) -> list[ProtocolHeader | Frame]:
    dec = FrameDecoder()
    items = dec.feed(data)
    dec.eof()
    assert dec.offset == len(data)
    return items


def _names(items: list) -> list[str]:
    return [i.name for i in items]


def _collapse(names: list[str]) -> list[str]:
    """Collapse runs of the same name (a split transfer) to one."""
    out: list[str] = []
    for n in names:
        if not out or out[-1] != n:
            out.append(n)
    return out


@pytest.fixture(scope="module", params=[None, "ANONYMOUS"], ids=["plain-amqp", "sasl-anonymous"])
def session(request):
    return request.param, record_session(sasl=request.param)


def test_client_direction_order(session):
    sasl, rec = session
    names = _names(_decode(bytes(rec.client)))
    prefix = ["sasl", "sasl_init"] if sasl else []
    assert _collapse(names) == prefix + [
        "amqp",
        "open",
        "begin",
        "attach",
        "flow",
        "transfer",
        "disposition",
        "empty",
        "detach",
        "end",
        "close",
    ]
    assert names.count("attach") == 2
    assert names.count("transfer") >= 3  # one small + a message split into several frames


def test_server_direction_order(session):
    sasl, rec = session
    names = _collapse(_names(_decode(bytes(rec.server))))
    prefix = ["sasl", "sasl_mechanisms", "sasl_outcome"] if sasl else []
    assert names == prefix + [
        "amqp",
        "open",
        "begin",
        "attach",
        "flow",
        "disposition",
        "transfer",
        "detach",
        "end",
        "close",
    ]


def test_fields_of_the_conversation(session):
    sasl, rec = session
    client = [i for i in _decode(bytes(rec.client)) if isinstance(i, Frame)]
    server = [i for i in _decode(bytes(rec.server)) if isinstance(i, Frame)]
    for f in client + server:
        json.dumps(f.performative.fields if f.performative else None)
        assert f.type == (1 if f.name.startswith("sasl") else 0)

    c_open = next(f for f in client if f.name == "open").performative
    assert c_open.container_id == "client"
    assert c_open.hostname == "localhost"
    assert c_open.max_frame_size == 4096
    s_open = next(f for f in server if f.name == "open").performative
    assert s_open.properties == {"product": "test-server"}
    assert s_open.idle_time_out == 1000

    c_attach = [f.performative for f in client if f.name == "attach"]
    assert [(a.fields["name"], a.role, a.handle) for a in c_attach] == [
        ("sender-link", "sender", 0),
        ("reply-link", "receiver", 1),
    ]
    assert c_attach[0].target["address"] == "examples"
    assert c_attach[1].source["dynamic"] is True
    assert c_attach[1].source["address"] is None
    s_attach = [f.performative for f in server if f.name == "attach"]
    assert s_attach[1].source == {**s_attach[1].source, "address": "dynamic-1", "dynamic": True}
    assert s_attach[1].role == "sender"

    s_flow = next(f for f in server if f.name == "flow").performative
    assert (s_flow.handle, s_flow.link_credit, s_flow.delivery_count) == (0, 10, 0)
    c_flow = next(f for f in client if f.name == "flow").performative
    assert (c_flow.handle, c_flow.link_credit) == (1, 5)

    transfers = [f for f in client if f.name == "transfer"]
    first = transfers[0]
    assert first.performative.delivery_tag == b"tag-0".hex()
    assert first.message == {
        "id": 1,
        "to": "examples",
        "reply_to": "dynamic-1",
        "correlation_id": "c-1",
        "subject": "hi",
        "body": "Hello World!",
    }
    parts = transfers[1:]
    assert all(p.performative.more for p in parts[:-1]) and not parts[-1].performative.more
    assert all(p.size <= 4096 for p in parts)
    assert all(p.message is None for p in parts[:-1])
    big = parts[-1].message
    assert big["id"] == "big"
    assert big["body"].startswith("x" * 200) and big["body"].endswith("(20000 chars)")

    disp = next(f for f in server if f.name == "disposition").performative
    assert (disp.role, disp.first, disp.last, disp.settled) == ("receiver", 0, 1, True)
    assert disp.state == {"type": "accepted"}
    reply = next(f for f in server if f.name == "transfer")
    assert reply.message["body"] == "HELLO WORLD!"
    assert reply.message["to"] == "dynamic-1"
    c_disp = next(f for f in client if f.name == "disposition").performative
    assert c_disp.role == "receiver" and c_disp.state == {"type": "accepted"}

    detach = [f.performative for f in client if f.name == "detach"]
    assert [(d.handle, d.closed) for d in detach] == [(0, True), (1, True)]
    close = next(f for f in server if f.name == "close").performative
    assert close.error is None

    if sasl:
        mechs = next(f for f in server if f.name == "sasl_mechanisms").performative
        assert mechs.sasl_server_mechanisms == ["ANONYMOUS"]
        assert next(f for f in server if f.name == "sasl_outcome").performative.code == 0
        init = next(f for f in client if f.name == "sasl_init").performative
        assert init.mechanism == "ANONYMOUS"


def test_proton_chunks_and_single_bytes_decode_the_same(session):
    _, rec = session
    for data, chunks in ((rec.client, rec.client_chunks), (rec.server, rec.server_chunks)):
        whole = _decode(bytes(data))
        dec = FrameDecoder()
        by_chunk = [item for c in chunks for item in dec.feed(c)]
        assert by_chunk == whole
        dec = FrameDecoder()
        by_byte = [item for i in range(len(data)) for item in dec.feed(data[i : i + 1])]
        dec.eof()
        assert by_byte == whole
        assert [getattr(i, "message", None) for i in by_byte] == [
            getattr(i, "message", None) for i in whole
        ]


def test_sasl_plain_client():
    client, server = record_plain_client("user", "secret")
    c = _decode(client)
    assert _names(c) == ["sasl", "sasl_init", "amqp", "open"]
    init = c[1].performative
    assert init.mechanism == "PLAIN"
    assert bytes.fromhex(init.initial_response) == b"\0user\0secret"
    assert _names(_decode(server)) == ["sasl", "sasl_mechanisms", "sasl_outcome", "amqp", "open"]


def test_small_max_frame_size_rejects_proton_frames(session):
    _, rec = session
    dec = FrameDecoder(max_frame_size=1024)
    with pytest.raises(DecodeError) as e:
        dec.feed(bytes(rec.client))
    assert "max frame size 1024" in str(e.value)
    assert all(i.size <= 1024 for i in e.value.items if isinstance(i, Frame))
