"""Properties of the matcher, the diff alignment and JSONL on generated inputs."""

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.trace.align import opcodes as _opcodes
from harness.trace.diff import diff_traces, render_diff
from harness.trace.invariants import check
from harness.trace.jsonl import read_trace, write_trace
from harness.trace.model import TraceEvent
from harness.trace.patterns import Pattern, frame, match
from tests.trace.builders import TraceBuilder, at_least_once_trace, hello_trace

TRACES = [hello_trace(), at_least_once_trace(), hello_trace(answer_first=False)]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(TRACES), st.data())
def test_any_subsequence_of_frames_matches(events, data):
    frames = [e for e in events if e.kind == "frame"]
    picks = sorted(data.draw(st.sets(st.integers(0, len(frames) - 1), min_size=1, max_size=8)))
    steps = []
    for i in picks:
        e = frames[i]
        fields = {k: v for k, v in e.fields.items() if k in ("handle", "delivery_id", "role")}
        steps.append(frame(e.name, src=e.src, dst=e.dst, **fields))
    result = match(Pattern("subsequence", steps, scope="trace"), events)
    assert result.ok, result.explain()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from("abc"), max_size=15), st.lists(st.sampled_from("abd"), max_size=15))
def test_opcodes_cover_both_sides_in_order(ka, kb):
    ops = _opcodes(ka, kb)
    ia = [i for t, i1, i2, _j1, _j2 in ops if t != "insert" for i in range(i1, i2)]
    ib = [j for t, _i1, _i2, j1, j2 in ops if t != "delete" for j in range(j1, j2)]
    assert ia == list(range(len(ka)))
    assert ib == list(range(len(kb)))
    for t, i1, i2, j1, j2 in ops:
        if t == "equal":
            assert ka[i1:i2] == kb[j1:j2]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(min_size=1, max_size=6), json_values, max_size=4), max_size=5)
)
def test_jsonl_round_trip(tmp_path_factory, field_sets):
    events = [
        TraceEvent(t=i * 0.5, kind="frame", name="transfer", conn="c1", fields=f)
        for i, f in enumerate(field_sets)
    ]
    path = tmp_path_factory.mktemp("j") / "trace.jsonl"
    write_trace(path, events)
    assert read_trace(path) == events


def test_ten_thousand_transfers_stay_fast():
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.open()
    c.attach_pair("L", "sender")
    c.s("flow", handle=0, delivery_count=0, link_credit=10000)
    for i in range(10000):
        c.transfer("sender", 0, i, msg_id=i + 1, body={"sequence": i + 1})
        if i % 50 == 49:
            c.accept("broker", i - 49, i)
        if i % 1000 == 999:  # the broker widens its session window, as a real one does
            c.s("flow", next_incoming_id=i + 1, incoming_window=2048, next_outgoing_id=0)
    c.close()
    start = time.perf_counter()
    assert check(tb.events) == []
    assert render_diff(diff_traces(tb.events, tb.events)).startswith("no differences")
    assert match(Pattern("last", [frame("transfer", message__id=10000)]), tb.events).ok
    assert time.perf_counter() - start < 5.0
