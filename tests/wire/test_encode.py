"""encode_* -> FrameDecoder round trips for every performative."""

from __future__ import annotations

import json

import pytest

from harness.wire import (
    PERFORMATIVES,
    FrameDecoder,
    encode_empty_frame,
    encode_frame,
    encode_header,
)

SAMPLES: dict[str, dict] = {
    "open": {
        "container_id": "c-1",
        "hostname": "localhost",
        "max_frame_size": 65536,
        "channel_max": 255,
        "idle_time_out": 30000,
        "outgoing_locales": ["en-US"],
        "incoming_locales": ["en-US", "de"],
        "offered_capabilities": ["ANONYMOUS-RELAY"],
        "desired_capabilities": ["DELAYED_DELIVERY"],
        "properties": {"product": "qpid", "version": "1.0", "n": 3},
    },
    "begin": {
        "remote_channel": 3,
        "next_outgoing_id": 1,
        "incoming_window": 2147483647,
        "outgoing_window": 100,
        "handle_max": 1024,
        "offered_capabilities": None,
        "desired_capabilities": None,
        "properties": None,
    },
    "attach": {
        "name": "link-1",
        "handle": 2,
        "role": "receiver",
        "snd_settle_mode": 2,
        "rcv_settle_mode": 0,
        "source": {
            "address": "queue-a",
            "durable": 1,
            "expiry_policy": "link-detach",
            "timeout": 0,
            "dynamic": False,
            "dynamic_node_properties": {"lifetime-policy": "delete-on-close"},
            "distribution_mode": "move",
            "filter": {
                "selector": {"descriptor": "apache.org:selector-filter:string", "value": "a = 1"}
            },
            "default_outcome": {
                "type": "modified",
                "delivery_failed": True,
                "undeliverable_here": None,
                "message_annotations": None,
            },
            "outcomes": ["amqp:accepted:list", "amqp:rejected:list"],
            "capabilities": ["queue"],
        },
        "target": {
            "address": None,
            "durable": None,
            "expiry_policy": None,
            "timeout": None,
            "dynamic": True,
            "dynamic_node_properties": None,
            "capabilities": None,
        },
        "unsettled": {"0102": {"type": "accepted"}, "ff": None},
        "incomplete_unsettled": False,
        "initial_delivery_count": 5,
        "max_message_size": 2**40,
        "offered_capabilities": None,
        "desired_capabilities": ["x"],
        "properties": {"k": [1, "two", None, True, 2.5]},
    },
    "flow": {
        "next_incoming_id": 1,
        "incoming_window": 100,
        "next_outgoing_id": 2,
        "outgoing_window": 200,
        "handle": 0,
        "delivery_count": 7,
        "link_credit": 10,
        "available": 0,
        "drain": True,
        "echo": False,
        "properties": None,
    },
    "transfer": {
        "handle": 0,
        "delivery_id": 9,
        "delivery_tag": "00ff10",
        "message_format": 0,
        "settled": False,
        "more": False,
        "rcv_settle_mode": 1,
        "state": {"type": "received", "section_number": 1, "section_offset": 12},
        "resume": False,
        "aborted": False,
        "batchable": True,
    },
    "disposition": {
        "role": "sender",
        "first": 1,
        "last": 4,
        "settled": True,
        "state": {
            "type": "rejected",
            "error": {
                "condition": "amqp:decode-error",
                "description": "bad",
                "info": {"where": 1},
            },
        },
        "batchable": None,
    },
    "detach": {
        "handle": 3,
        "closed": True,
        "error": {"condition": "amqp:not-found", "description": "no such queue", "info": None},
    },
    "end": {"error": None},
    "close": {"error": {"condition": "amqp:connection:forced", "description": None, "info": None}},
    "sasl_mechanisms": {"sasl_server_mechanisms": ["PLAIN", "ANONYMOUS"]},
    "sasl_init": {"mechanism": "PLAIN", "initial_response": "0075007077", "hostname": "h"},
    "sasl_challenge": {"challenge": "abcd"},
    "sasl_response": {"response": ""},
    "sasl_outcome": {"code": 1, "additional_data": "00"},
}


def test_samples_cover_every_performative():
    assert set(SAMPLES) == {p.name for p in PERFORMATIVES}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip(name):
    sasl = name.startswith("sasl")
    payload = b"\x00Sw\xa1\x02hi" if name == "transfer" else b""
    data = encode_header(3 if sasl else 0) + encode_frame(name, SAMPLES[name], 5, payload)
    header, frame = FrameDecoder().feed(data)
    assert header.name == ("sasl" if sasl else "amqp")
    p = frame.performative
    assert (frame.name, p.name, frame.channel, frame.type) == (name, name, 5, int(sasl))
    assert p.fields == SAMPLES[name]
    assert frame.payload == payload
    json.dumps(p.fields, allow_nan=False)
    # and the decoded fields encode to the same bytes again
    assert encode_frame(name, p.fields, 5, payload) == data[8:]


@pytest.mark.parametrize("spec", PERFORMATIVES, ids=lambda s: s.name)
def test_minimal_fields_fill_in_none(spec):
    fields = {k: v for k, v in SAMPLES[spec.name].items() if k in spec.mandatory}
    data = encode_header(3 if spec.frame_type else 0) + encode_frame(spec.name, fields)
    frame = FrameDecoder().feed(data)[1]
    assert list(frame.performative.fields) == list(spec.fields)
    assert {k: v for k, v in frame.performative.fields.items() if v is not None} == fields


def test_attribute_access_and_errors():
    frame = FrameDecoder().feed(encode_header() + encode_frame("flow", SAMPLES["flow"]))[1]
    assert frame.performative.link_credit == 10
    with pytest.raises(AttributeError):
        frame.performative.no_such_field  # noqa: B018
    assert frame.performative.descriptor == 0x13
    with pytest.raises(ValueError, match="no field"):
        encode_frame("flow", {"credit": 1})
    with pytest.raises(ValueError, match="unknown performative"):
        encode_frame("hello", {})


def test_header_and_empty_frame_bytes():
    assert encode_header() == b"AMQP\x00\x01\x00\x00"
    assert encode_header(3) == b"AMQP\x03\x01\x00\x00"
    assert encode_empty_frame() == b"\x00\x00\x00\x08\x02\x00\x00\x00"
    assert FrameDecoder().feed(encode_header() + encode_empty_frame())[1].name == "empty"
