"""Message summaries: the same answer on any thread, at the same time.

Why: a frame's summary is decoded lazily, on the tap's loop thread (fault
rules) or in whichever thread stops the tap, and the decoder reuses spare
``Data`` objects instead of a thread-local; two summaries running at once
must never share one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from proton import Message

from harness.wire.message import summarize_message


def _payload(i: int) -> bytes:
    body = {"sequence": i, "text": "x" * (i % 300)} if i % 3 else f"body {i}"
    msg = Message(id=i, address=f"q{i}", reply_to=f"r{i}", correlation_id=f"c{i}", body=body)
    return msg.encode()


def test_summary_fields():
    s = summarize_message(_payload(4))
    assert s is not None
    assert (s["id"], s["to"], s["reply_to"], s["correlation_id"]) == (4, "q4", "r4", "c4")
    assert s["body"] == {"sequence": 4, "text": "xxxx"}
    assert summarize_message(b"\x00garbage") is None


def test_summaries_agree_across_threads():
    payloads = [_payload(i) for i in range(400)]
    expected = [summarize_message(p) for p in payloads]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            assert list(pool.map(summarize_message, payloads)) == expected
