"""A long trace on disk, read back a page at a time.

A 100,000-message cell with 20 cuts records over half a million events;
held as objects they were the largest part of the harness's memory, and
that grew with every message. Here a trace beyond a size is written in
pages of ``PAGE`` events and read back as a ``Sequence``: iterating streams
the pages in order, indexing keeps the last few pages it read, so what is
held does not grow with the trace.

``SortingSpool`` is how a cell's events get there: they come from several
threads (each tap, each peer's output) roughly but not exactly in time
order, so it sorts them the way a list would be sorted (by time, ties in
arrival order) with bounded memory: each ``spill_over`` events become a
sorted run on disk, written by the spool's own thread, and ``sorted()``
gives a ``MergedTrace`` that merges the runs as it is read, a page of each
at a time. Below ``spill_over`` events nothing touches the disk and the
trace is a plain list, as for every cell of the default matrix.

Pages are pickled tuples of the spool's own making, read only from the
cell's own folder: never a file from elsewhere.
"""

from __future__ import annotations

import heapq
import itertools
import pickle
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

from harness.trace.model import TraceEvent

__all__ = ["PAGE", "SPILL_OVER", "MergedTrace", "SortingSpool", "SpoolWriter", "SpooledTrace"]

#: events per page on disk (a merge holds one page of each run it reads)
PAGE = 1024
#: pages a ``SpooledTrace`` keeps for indexing
CACHED_PAGES = 4
#: events a ``SortingSpool`` holds before it writes a sorted run
SPILL_OVER = 25_000
#: runs read side by side at most; more are first merged in groups into longer runs
MAX_RUNS = 32
#: batches waiting for the spool's writer at most (then the adding thread waits)
MAX_PENDING = 2


def _row(e: TraceEvent) -> tuple:
    return (e.t, e.kind, e.name, e.conn, e.src, e.dst, e.channel, e.fields)


def _page_events(rows: list[tuple]) -> list[TraceEvent]:
    return [TraceEvent(*row) for row in rows]


class SpoolWriter:
    """Appends events to a page file; ``close()`` gives the trace to read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fp = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._offsets: list[int] = []
        self._rows: list[tuple] = []
        self._n = 0

    def add(self, e: TraceEvent) -> None:
        self._rows.append(_row(e))
        self._n += 1
        if len(self._rows) >= PAGE:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._offsets.append(self._fp.tell())
            pickle.dump(self._rows, self._fp, protocol=pickle.HIGHEST_PROTOCOL)
            self._rows = []

    def close(self) -> SpooledTrace:
        self._flush()
        self._fp.close()
        return SpooledTrace(self.path, self._offsets, self._n)


class _Events(Sequence[TraceEvent]):
    """What both spooled traces share: a length, and indexing (slices, negative indices)
    turned into ``_at(i)`` for 0 <= i < len."""

    _n = 0

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> TraceEvent: ...

    @overload
    def __getitem__(self, i: slice) -> list[TraceEvent]: ...

    def __getitem__(self, i: int | slice) -> TraceEvent | list[TraceEvent]:
        if isinstance(i, slice):
            return self._span(range(*i.indices(self._n)))
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("trace index out of range")
        return self._at(i)

    def _at(self, i: int) -> TraceEvent:
        raise NotImplementedError

    def _span(self, wanted: range) -> list[TraceEvent]:
        return [self._at(k) for k in wanted]


class SpooledTrace(_Events):
    """A trace in a page file: ``len``, indexing, slicing, iteration (both ways).

    Each read makes new ``TraceEvent`` objects: two reads of one index give
    equal events, not the same object, and nothing read is kept beyond the
    last ``CACHED_PAGES`` pages.
    """

    def __init__(self, path: Path, offsets: list[int], count: int) -> None:
        self.path = path
        self._offsets = offsets
        self._n = count
        self._cache: OrderedDict[int, list[TraceEvent]] = OrderedDict()

    def _at(self, i: int) -> TraceEvent:
        return self._page(i // PAGE)[i % PAGE]

    def _page(self, p: int) -> list[TraceEvent]:
        page = self._cache.get(p)
        if page is not None:
            self._cache.move_to_end(p)
            return page
        with open(self.path, "rb") as fp:
            fp.seek(self._offsets[p])
            page = _page_events(pickle.load(fp))
        self._cache[p] = page
        if len(self._cache) > CACHED_PAGES:
            self._cache.popitem(last=False)
        return page

    def __iter__(self) -> Iterator[TraceEvent]:
        with open(self.path, "rb") as fp:
            for offset in self._offsets:
                fp.seek(offset)
                yield from _page_events(pickle.load(fp))

    def __reversed__(self) -> Iterator[TraceEvent]:
        for p in range(len(self._offsets) - 1, -1, -1):
            yield from reversed(self._page(p))

    def delete(self) -> None:
        """Remove the page file (the trace cannot be read after this)."""
        self._cache.clear()
        self.path.unlink(missing_ok=True)


class MergedTrace(_Events):
    """Sorted runs read as one trace, merged as they are read (nothing merged is written).

    Iterating (either way) streams the runs' pages; ties in time come in run
    order, which is arrival order. Indexing walks the trace from its start:
    for the odd lookup, never in a loop.
    """

    def __init__(self, runs: list[SpooledTrace]) -> None:
        self.runs = runs
        self._n = sum(len(r) for r in runs)

    def _at(self, i: int) -> TraceEvent:
        return next(itertools.islice(iter(self), i, None))

    def _span(self, wanted: range) -> list[TraceEvent]:
        if wanted.step != 1:
            return super()._span(wanted)
        return list(itertools.islice(iter(self), wanted.start, wanted.stop))

    def __iter__(self) -> Iterator[TraceEvent]:
        if len(self.runs) == 1:
            return iter(self.runs[0])
        return heapq.merge(*self.runs, key=_time)  # ties: earlier runs (earlier arrivals) first

    def __reversed__(self) -> Iterator[TraceEvent]:
        # backwards, a tie in time comes from the later run first: the forward order reversed
        tagged = [_tagged(reversed(r), k) for k, r in enumerate(self.runs)]
        return (e for _, e in heapq.merge(*tagged, key=_first, reverse=True))


def _tagged(events: Iterator[TraceEvent], k: int) -> Iterator[tuple[tuple[float, int], TraceEvent]]:
    return (((e.t, k), e) for e in events)


def _first(pair: tuple) -> Any:
    return pair[0]


class SortingSpool:
    """Collects a cell's events from any thread; ``sorted()`` gives them in time order.

    ``spill_dir`` None keeps everything in a list (no disk at all).
    """

    def __init__(self, spill_dir: Path | None = None, spill_over: int | None = None) -> None:
        self.spill_dir = spill_dir
        self.spill_over = spill_over if spill_over is not None else SPILL_OVER
        self.events: list[TraceEvent] = []  # not yet spilled, in arrival order
        self._runs: list[SpooledTrace] = []
        self._lock = threading.Lock()
        # bounded: when the disk falls behind, the taps wait instead of memory growing
        self._pending: queue.Queue[tuple[int, list[TraceEvent]] | None] = queue.Queue(MAX_PENDING)
        self._writer: threading.Thread | None = None
        self._merges = 0
        self._failed: BaseException | None = None

    def add(self, ev: TraceEvent) -> None:
        with self._lock:
            self.events.append(ev)
            if self.spill_dir is None or len(self.events) < self.spill_over:
                return
            batch, self.events = self.events, []
            n = len(self._runs)
            self._runs.append(None)  # type: ignore[arg-type]  # its place, kept in order
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_runs, name="trace-spool", daemon=True
                )
                self._writer.start()
        # sorted and written by the spool's own thread: the adding thread (the taps'
        # event loop, a peer's output reader) goes straight back to its work
        self._pending.put((n, batch))

    def _write_runs(self) -> None:
        while True:
            job = self._pending.get()
            try:
                if job is None:
                    return
                n, batch = job
                try:
                    run = self._write(batch, f"run-{n}")
                except BaseException as e:  # noqa: BLE001 - sorted() raises it in the cell
                    self._failed = e
                    continue
                with self._lock:
                    self._runs[n] = run
            finally:
                self._pending.task_done()

    def _write(self, events: list[TraceEvent], name: str) -> SpooledTrace:
        """A batch as it came, sorted into a run."""
        return self._run(sorted(events, key=_time), name)

    def _run(self, ordered: Iterable[TraceEvent], name: str) -> SpooledTrace:
        """Events already in trace order, written as run ``name`` of the spool."""
        assert self.spill_dir is not None
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        writer = SpoolWriter(self.spill_dir / name)
        for e in ordered:
            writer.add(e)
        return writer.close()

    @property
    def spilled(self) -> bool:
        return bool(self._runs)

    def sorted(self) -> Sequence[TraceEvent]:
        """Every event so far, by time (ties in the order they came): a list, or for a
        spilled trace the sorted runs on disk, merged as they are read."""
        self._pending.join()  # every run handed to the writer is on disk
        if self._failed is not None:
            raise RuntimeError(f"trace spool could not write a run: {self._failed}")
        with self._lock:
            if not self._runs:
                return sorted(self.events, key=_time)
            rest, self.events = self.events, []
            n = len(self._runs)
        if rest:
            run = self._write(rest, f"run-{n}")
            with self._lock:
                self._runs.append(run)
        with self._lock:
            runs = list(self._runs)
        while len(runs) > MAX_RUNS:  # a very long trace: what is read side by side stays bounded
            runs = self._compact(runs)
            with self._lock:
                self._runs = list(runs)
        return MergedTrace(runs)

    def _compact(self, runs: list[SpooledTrace]) -> list[SpooledTrace]:
        """Merge each ``MAX_RUNS`` consecutive runs into one (ties keep their run order)."""
        out = []
        for k in range(0, len(runs), MAX_RUNS):
            group = runs[k : k + MAX_RUNS]
            if len(group) == 1:
                out.append(group[0])
                continue
            self._merges += 1
            out.append(self._run(heapq.merge(*group, key=_time), f"merged-{self._merges}"))
            for r in group:
                r.delete()
        return out

    def delete(self) -> None:
        """Remove every file the spool wrote (and end its writer thread)."""
        if self._writer is not None:
            self._pending.put(None)
            self._writer.join(timeout=30)
            self._writer = None
        with self._lock:
            runs, self._runs = self._runs, []
        for r in runs:
            if r is not None:
                r.delete()
        if self.spill_dir is not None:
            try:
                self.spill_dir.rmdir()
            except OSError:
                pass  # not empty (not ours) or already gone


def _time(e: TraceEvent) -> float:
    return e.t
