"""A long trace spilled to disk reads back as the list it stands for, in the same order.

Why: a 100,000-message cell records over half a million events; held as
objects they were most of the harness's memory. Spilled in sorted runs and
merged, the trace must come back exactly as ``sorted(events, key=t)`` would
give it (ties in arrival order), from any thread, and leave no file behind.
"""

from __future__ import annotations

import random
import threading

import pytest

from harness.trace import spool
from harness.trace.model import FRAME, TraceEvent
from harness.trace.spool import SortingSpool


def _events(n: int, seed: int = 7) -> list[TraceEvent]:
    """Events roughly in time order, some out of order, many sharing one time."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = round(i * 0.001 + rng.choice([0.0, 0.0, -0.003, 0.002]), 3)
        out.append(TraceEvent(t, FRAME, "transfer", "c1", "sender", "broker", 0, {"n": i}))
    return out


def test_a_spilled_trace_reads_back_as_the_sorted_list(tmp_path, monkeypatch):
    monkeypatch.setattr(spool, "PAGE", 64)
    events = _events(5000)
    sp = SortingSpool(tmp_path / "spool", spill_over=700)
    for e in events:
        sp.add(e)
    assert sp.spilled
    got = sp.sorted()
    want = sorted(events, key=lambda e: e.t)
    assert len(got) == len(want)
    assert [e.fields["n"] for e in got] == [e.fields["n"] for e in want]  # ties in arrival order
    assert [e.fields["n"] for e in reversed(got)] == [e.fields["n"] for e in reversed(want)]
    assert got[0] == want[0] and got[-1] == want[-1] and got[4321] == want[4321]
    assert got[10:13] == want[10:13]
    with pytest.raises(IndexError):
        got[5000]
    sp.delete()
    assert not (tmp_path / "spool").exists()


def test_many_runs_are_merged_in_groups_first(tmp_path, monkeypatch):
    """More runs than MAX_RUNS are merged in groups first: what a read holds stays bounded,
    and the order (ties in arrival order) is the same."""
    monkeypatch.setattr(spool, "PAGE", 16)
    monkeypatch.setattr(spool, "MAX_RUNS", 3)
    events = _events(2000, seed=3)
    sp = SortingSpool(tmp_path / "spool", spill_over=90)  # 23 runs: two rounds of merging
    for e in events:
        sp.add(e)
    got = sp.sorted()
    assert isinstance(got, spool.MergedTrace) and len(got.runs) <= 3
    want = sorted(events, key=lambda e: e.t)
    assert [e.fields["n"] for e in got] == [e.fields["n"] for e in want]
    assert [e.fields["n"] for e in reversed(got)] == [e.fields["n"] for e in reversed(want)]
    sp.delete()
    assert not (tmp_path / "spool").exists()


def test_a_short_trace_never_touches_the_disk(tmp_path):
    sp = SortingSpool(tmp_path / "spool", spill_over=10_000)
    for e in _events(100):
        sp.add(e)
    got = sp.sorted()
    assert isinstance(got, list) and len(got) == 100
    assert not (tmp_path / "spool").exists()


def test_events_from_several_threads_all_arrive(tmp_path):
    sp = SortingSpool(tmp_path / "spool", spill_over=500)
    parts = [_events(3000, seed=s) for s in range(4)]

    def feed(part: list[TraceEvent]) -> None:
        for e in part:
            sp.add(e)

    threads = [threading.Thread(target=feed, args=(p,)) for p in parts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    got = sp.sorted()
    assert len(got) == 12_000
    times = [e.t for e in got]
    assert times == sorted(times)
    sp.delete()


def test_events_after_a_merge_are_merged_in_too(tmp_path):
    sp = SortingSpool(tmp_path / "spool", spill_over=100)
    for e in _events(300):
        sp.add(e)
    first = sp.sorted()
    late = TraceEvent(0.0005, FRAME, "close", "c1", "sender", "broker", 0, {})
    sp.add(late)
    again = sp.sorted()
    assert len(first) == 300 and len(again) == 301 and late in list(again)
    assert [e.t for e in again] == sorted(e.t for e in again)
    sp.delete()
