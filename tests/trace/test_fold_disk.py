"""Long traces stored folded: bounded on disk, every event around a fault kept.

Why: a 100,000-message run has over half a million trace events (140 MB of
JSONL, 39 MB of text before folding); stored one per line, a long run's
artifacts grow with the message count and its cuts drown in transfers. The
stored trace must grow with the faults instead, keep every frame just before
and after each cut, count what each fold stands for exactly, and still read
back as a trace.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.trace.fold import FOLDED, Fold, fold_events, fold_rows, routine
from harness.trace.jsonl import read_trace, write_trace
from harness.trace.model import CONN, HARNESS, TraceEvent
from harness.trace.render import render_trace
from tests.trace.builders import TraceBuilder


def _long_run(n: int, cut_at: int):
    """A sender sending ``n`` accepted messages, its connection cut after message ``cut_at``."""
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.open()
    c.attach_pair("s", "sender")
    c.s("flow", handle=0, delivery_count=0, link_credit=n)
    for i in range(n):
        c.transfer("sender", 0, i, msg_id=i + 1, body={"sequence": i + 1})
        c.accept("broker", i)
        tb.peer("sender", "accepted", id=i + 1)
        if i + 1 == cut_at:
            c.cut()
    return tb.events


def test_a_short_trace_is_stored_event_for_event(tmp_path):
    events = _long_run(50, 25)
    assert fold_events(events) == events
    assert write_trace(tmp_path / "t.jsonl", events) == len(events)
    assert read_trace(tmp_path / "t.jsonl") == events


def test_a_long_trace_folds_around_the_faults_and_counts_what_it_hides():
    events = _long_run(3000, 1500)  # 9,000 events
    out = fold_events(events, over=1000, context=20)
    assert len(out) < 200
    cut = next(i for i, e in enumerate(events) if e.kind == CONN and e.name == "cut")
    # every event near the cut is there as it was, in order
    near = events[cut - 20 : cut + 21]
    start = out.index(near[0])
    assert out[start : start + len(near)] == near
    # every non-routine event is kept; the folds account for every routine event left out
    assert [e for e in events if not routine(e)] == [
        e for e in out if not routine(e) and e.name != FOLDED
    ]
    folds = [e for e in out if e.kind == HARNESS and e.name == FOLDED]
    assert folds and all(sum(f.fields["counts"].values()) == f.fields["events"] for f in folds)
    kept = sum(1 for e in out if e.name != FOLDED)
    assert kept + sum(f.fields["events"] for f in folds) == len(events)
    assert all(f.fields["until"] >= f.t for f in folds)


def test_a_folded_trace_is_written_read_back_and_rendered(tmp_path):
    events = _long_run(8000, 4000)  # 24,000 events: over the default threshold
    path = tmp_path / "trace.jsonl"
    lines = write_trace(path, events)
    assert lines < 1000
    back = read_trace(path)
    assert len(back) == lines
    assert any(e.kind == CONN and e.name == "cut" for e in back)
    text = render_trace(events)
    assert len(text.splitlines()) == lines
    assert "events folded until" in text and "transfer sender→broker ×" in text
    # unfolded on request, for a tool that needs every event
    assert write_trace(tmp_path / "all.jsonl", events, fold=False) == len(events)


def _by_rows(events, context, edge):
    """Folding as the rows of a diagram would do it, with every story event pinned: what
    ``fold_events`` must give, though it holds only a stretch's ends while it reads."""
    story = [i for i, e in enumerate(events) if not routine(e)]
    rows = fold_rows(events, story, min_run=2 * edge + 1, edge=edge, context=context)
    out = []
    for row in rows:
        if isinstance(row, Fold):
            fields = {"events": row.size, "until": round(row.t1, 6), "counts": dict(row.counts)}
            out.append(TraceEvent(t=row.t0, kind=HARNESS, name=FOLDED, fields=fields))
        else:
            out.append(events[row])
    return out


@settings(max_examples=300, deadline=None)
@given(
    kinds=st.lists(st.sampled_from("ttttddfpsx"), min_size=1, max_size=120),
    context=st.integers(0, 6),
    edge=st.integers(0, 3),
)
def test_the_streaming_fold_is_the_fold_of_the_rows(kinds, context, edge):
    """t transfer, d disposition, f flow, p routine peer event; s a story frame, x a cut."""
    tb = TraceBuilder()
    c = tb.conn("sender", accept=False)
    for n, k in enumerate(kinds):
        if k == "t":
            c.transfer("sender", 0, n, msg_id=n)
        elif k == "d":
            c.accept("broker", n)
        elif k == "f":
            c.s("flow", handle=0, delivery_count=0, link_credit=5)
        elif k == "p":
            tb.peer("sender", "accepted", id=n)
        elif k == "s":
            c.c("attach", name=f"l{n}", handle=0, role="sender")
        else:
            tb.add(kind=CONN, name="cut", conn=c.name, src="sender", dst="broker")
    events = tb.events
    got = fold_events(events, over=0, context=context, edge=edge)
    want = _by_rows(events, context, edge)
    assert [e.to_dict() for e in got] == [e.to_dict() for e in want]
