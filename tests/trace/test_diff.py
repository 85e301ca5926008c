import pathlib

from harness.trace.diff import CHANGED, ONLY_A, ONLY_B, REPLACED, SAME, diff_traces, render_diff
from harness.trace.jsonl import read_trace
from tests.trace.builders import (
    TraceBuilder,
    at_least_once_trace,
    hello_trace,
    request_response_trace,
)

DATA = pathlib.Path(__file__).parent / "data"


def test_identical_traces():
    events = hello_trace()
    rows = diff_traces(events, events)
    assert {r.kind for r in rows} == {SAME}
    n = len(rows)
    assert render_diff(rows) == f"no differences in {n} frames"


def test_what_always_differs_is_ignored():
    a = request_response_trace("dyn-aaaa")
    b = request_response_trace("dyn-bbbb")
    for e in b:
        if e.name == "open" and e.src == "client":
            e.fields["container_id"] = "other-container"
            e.fields["hostname"] = "localhost"
        if e.name == "attach":
            e.fields["name"] = "renamed-" + str(e.fields["name"])
        if e.name == "transfer":
            e.fields["delivery_tag"] = "ff"
            e.t += 5
    assert render_diff(diff_traces(a, b)).startswith("no differences in")


def test_generated_ids_and_defaults_are_ignored():
    tb1, tb2 = TraceBuilder(), TraceBuilder()
    for tb, mid, explicit in (
        (tb1, "6f1e2a3b-0000-4000-8000-1234567890ab", True),
        (tb2, "0a1b2c3d-1111-4000-8000-ba0987654321", False),
    ):
        c = tb.conn("s")
        c.open()
        extra = {"snd_settle_mode": 2, "rcv_settle_mode": 0} if explicit else {}
        c.c(
            "attach",
            name="L",
            handle=0,
            role="sender",
            target={"address": "q", "durable": 0},
            **extra,
        )
        c.transfer("s", 0, 0, msg_id=mid, body="x", settled=False if explicit else None)
    assert render_diff(diff_traces(tb1.events, tb2.events)).startswith("no differences")


def test_field_differences_are_shown_side_by_side():
    a = hello_trace()
    b = hello_trace()
    for e in b:
        if e.name == "flow" and e.src == "hello":
            e.fields["link_credit"] = 2047
        if e.name == "attach" and e.src == "hello" and e.fields["role"] == "sender":
            e.fields["snd_settle_mode"] = 1
    rows = diff_traces(a, b)
    changed = [r for r in rows if r.kind == CHANGED]
    assert [c for r in changed for c in r.changes] == [
        ("link_credit", 10, 2047),
        ("snd_settle_mode", None, 1),
    ]
    text = render_diff(rows, "python", "js")
    assert "connection hello #1: python c1, js c1" in text
    assert "link_credit: 10 | 2047" in text
    assert "snd_settle_mode: (absent) | 1" in text
    assert " ~ -> flow handle=0 credit=10" in text
    assert "2 with different fields" in text
    assert "identical frames)" in text


def test_missing_and_extra_frames():
    a = hello_trace()
    b = [e for e in hello_trace() if not (e.name == "detach" and e.src == "hello")]
    rows = diff_traces(a, b)
    assert [r.kind for r in rows].count(ONLY_A) == 2
    text = render_diff(rows)
    assert " < -> detach handle=0 closed=True" in text
    rows = diff_traces(b, a)
    assert [r.kind for r in rows].count(ONLY_B) == 2


def test_attach_order_difference():
    # the sender attach before the answer to the receiver: per-direction alignment sees
    # the same frames; only cross-direction timing differs, which is not reported as noise
    rows = diff_traces(hello_trace(), hello_trace(answer_first=False))
    assert all(r.kind == SAME for r in rows)


def test_different_performatives_at_the_same_place():
    tb1, tb2 = TraceBuilder(), TraceBuilder()
    for tb, perf in ((tb1, "detach"), (tb2, "end")):
        c = tb.conn("s")
        c.open()
        c.c("flow", handle=0, link_credit=1)
        c.c(perf)
        c.c("close")
    rows = diff_traces(tb1.events, tb2.events)
    assert [r.kind for r in rows].count(REPLACED) == 1
    assert " ! -> detach" in render_diff(rows)


def test_connections_align_by_client_label_and_order():
    a = at_least_once_trace()
    b = at_least_once_trace()
    b_only_first = [e for e in b if e.conn != "c2"]
    rows = diff_traces(a, b_only_first)
    groups = {r.group for r in rows}
    assert groups == {"sender #1", "sender #2"}
    assert all(r.kind == ONLY_A for r in rows if r.group == "sender #2")
    assert "b (none)" in render_diff(rows)


def test_runs_of_similar_rows_are_folded():
    a = at_least_once_trace(count=12, cut_after=3)
    b = at_least_once_trace(count=12, cut_after=5)
    text = render_diff(diff_traces(a, b))
    assert "more like the row above" in text


def test_recorded_python_vs_js():
    a = read_trace(DATA / "hello-python.jsonl")
    b = read_trace(DATA / "hello-js.jsonl")
    rows = diff_traces(a, b)
    text = render_diff(rows, "python", "js")
    assert "link_credit: 10 | 1000" in text
    assert "incoming_window: 2147483647 | 2048" in text
    assert "container" not in text.split("\n", 3)[3]  # container ids never compared
    rr = diff_traces(read_trace(DATA / "rr-python.jsonl"), read_trace(DATA / "rr-js.jsonl"))
    assert "dynamic.1" not in "".join(str(c) for r in rr for c in r.changes)


def test_each_cells_own_queue_name_is_not_a_difference():
    """Cells use unique queue names (they share brokers); the diff must not report them."""
    from harness.trace.diff import diff_traces
    from harness.trace.model import TraceEvent

    def trace(queue: str) -> list[TraceEvent]:
        return [
            TraceEvent(0.0, "harness", "cell", fields={"address": queue}),
            TraceEvent(0.1, "conn", "accept", conn="c1", src="hello", dst="broker"),
            TraceEvent(
                0.2,
                "frame",
                "attach",
                conn="c1",
                src="hello",
                dst="broker",
                channel=0,
                fields={"name": "l", "handle": 0, "role": "receiver", "source": {"address": queue}},
            ),
        ]

    rows = diff_traces(trace("hello-world-1a2b3c4d"), trace("hello-world-9f8e7d6c"))
    assert rows and all(r.kind == "same" for r in rows), rows
