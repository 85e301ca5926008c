"""Message summaries: the same answer on any thread, at the same time.

Why: a frame's summary is decoded lazily, on the tap's loop thread (fault
rules) or in whichever thread stops the tap, and the decoder reuses spare
``Data`` objects instead of a thread-local; two summaries running at once
must never share one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from proton import Message

from harness.wire.message import CACHED_PAYLOAD, _remembered, summarize_message


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


def test_a_repeated_payload_gives_an_equal_summary_of_its_own():
    """The same bytes on a broker's two legs decode once; no two trace events share a dict."""
    payload = _payload(5)
    first, second = summarize_message(payload), summarize_message(memoryview(payload))
    assert first == second and first is not second
    assert first is not None
    first["id"] = "changed by one reader"
    assert summarize_message(payload)["id"] == 5


def test_a_large_payload_is_summarized_without_being_remembered():
    body = "y" * (CACHED_PAYLOAD + 10)
    payload = Message(id=9, body=body).encode()
    before = _remembered.cache_info().currsize
    s = summarize_message(payload)
    assert s is not None and s["id"] == 9 and s["body"].endswith(f"({len(body)} chars)")
    assert _remembered.cache_info().currsize == before
