"""Property tests of the message summary: a transfer's payload is whatever the sender wrote.

``summarize_message`` must give a JSON-ready dict or ``None`` for any bytes
(a bad payload is not a framing error), and the fields of a real message
must come back as the sender set them.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proton import Message

from harness.wire.message import MAX_BODY_STRING, MAX_SECTIONS, summarize_message

from .amqp_strategies import mutate, mutation

cfg = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

_ids = st.none() | st.integers(0, 2**63 - 1) | st.text(max_size=20)
_bodies = st.none() | st.text(max_size=250) | st.integers(-(2**63), 2**63 - 1) | st.booleans()
_messages = st.builds(
    lambda i, to, rt, cid, subj, body: Message(
        id=i, address=to, reply_to=rt, correlation_id=cid, subject=subj, body=body
    ),
    _ids,
    st.none() | st.text(max_size=20),
    st.none() | st.text(max_size=20),
    _ids,
    st.none() | st.text(max_size=20),
    _bodies | st.dictionaries(st.text(max_size=5), _bodies, max_size=3),
)


def _summary(payload: bytes) -> dict | None:
    got = summarize_message(payload)
    assert got is None or isinstance(got, dict)
    json.dumps(got, allow_nan=False)
    return got


def _cut(v):
    if isinstance(v, str) and len(v) > MAX_BODY_STRING:
        return f"{v[:MAX_BODY_STRING]}...({len(v)} chars)"
    if isinstance(v, dict):
        return {k: _cut(x) for k, x in v.items()}
    return v


@cfg
@given(_messages)
def test_real_messages_round_trip(m: Message) -> None:
    got = _summary(m.encode())
    assert got is not None
    assert got["id"] == m.id
    assert got["to"] == m.address
    assert got["reply_to"] == m.reply_to
    assert got["correlation_id"] == m.correlation_id
    assert got["subject"] == m.subject
    assert got["body"] == _cut(m.body)


@cfg
@given(_messages, st.lists(mutation, min_size=1, max_size=4))
def test_mutated_messages(m: Message, muts) -> None:
    _summary(mutate(m.encode(), muts))


@cfg
@given(st.binary(max_size=300))
def test_random_payloads(data: bytes) -> None:
    _summary(data)


def test_a_payload_of_countless_sections_is_not_summarized() -> None:
    """Each section costs a proton decode: 4-byte sections filling a frame are not a message."""
    data = b"\x00\x53\x75\xa0\x00"  # an empty data section
    assert summarize_message(data * MAX_SECTIONS) is not None
    assert summarize_message(data * (MAX_SECTIONS + 1)) is None
    assert summarize_message(b"\x00\x53\x70\x45" * 250_000) is None  # a MiB of headers
