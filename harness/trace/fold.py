"""Long traces folded for reading: runs of routine events become one row.

A 1,000-message cell has thousands of transfers, dispositions, flows and the
peers' per-message events; drawn one per row, the handshake, the cut and the
recovery are lost in a diagram tens of thousands of pixels tall. ``fold_rows``
keeps every event that tells the story (opens, attaches, detaches, closes,
errors, cuts, harness notes, the events to highlight and their neighbours)
and the first and last few of each routine stretch, and replaces the middle
of a long stretch by one :class:`Fold` that counts what it hides
("transfer sender→broker ×498").

``fold_events`` does the same for storage: a trace longer than ``FOLD_OVER``
events (a 100,000-message run has over half a million) is written with each
long routine stretch replaced by one ``harness``/``folded`` event that counts
what it stands for, while every event that tells the story, and
``DISK_CONTEXT`` events either side of it (the frames just before and after
each cut), stay as they were. The size on disk then grows with the number of
faults, not with the number of messages.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from harness.trace.model import FRAME, HARNESS, PEER, TraceEvent

__all__ = [
    "DISK_CONTEXT",
    "FOLDED",
    "FOLD_OVER",
    "Fold",
    "Folder",
    "Row",
    "fold_events",
    "fold_rows",
    "routine",
]

#: frames that repeat per message or per credit grant
ROUTINE_FRAMES = frozenset({"transfer", "disposition", "flow", "empty"})
#: peer events printed per message (the contract's ``--quiet`` set, and outcomes)
ROUTINE_PEER = frozenset(
    {"sent", "accepted", "released", "modified", "settled", "message", "sendable"}
)
#: traces with more events than this are folded when stored (trace.jsonl, trace.txt)
FOLD_OVER = 20_000
#: events kept as they were either side of each story event of a folded trace
DISK_CONTEXT = 100
#: the name of the harness event that stands for a folded stretch
FOLDED = "folded"


@dataclass(frozen=True)
class Fold:
    """Trace events ``first``..``last`` (inclusive) drawn as one row."""

    first: int
    last: int
    t0: float
    t1: float
    counts: tuple[tuple[str, int], ...]  # what is hidden, most frequent first

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def label(self, kinds: int = 3) -> str:
        """``1,492 events folded: transfer sender→broker ×498, ... (+2 more kinds)``."""
        shown = ", ".join(f"{k} ×{n:,}" for k, n in self.counts[:kinds])
        more = len(self.counts) - kinds
        tail = f" (+{more} more kinds)" if more > 0 else ""
        return f"{self.size:,} events folded: {shown}{tail}"

    def details(self) -> str:
        """Every count, one per line, with the time span (a tooltip)."""
        lines = [f"{self.t0:.3f} .. {self.t1:.3f} s: {self.size:,} events"]
        lines += [f"{n:>7,}  {k}" for k, n in self.counts]
        return "\n".join(lines)


#: a row of a folded trace: a trace index, or a fold
Row = int | Fold


def routine(e: TraceEvent) -> bool:
    """An event that repeats per message and says nothing new when it goes well."""
    if e.kind == FRAME and e.name in ROUTINE_FRAMES:
        state = e.fields.get("state")
        kind = state.get("type") if isinstance(state, dict) else None
        return not e.fields.get("aborted") and kind in (None, "accepted", "released")
    return e.kind == PEER and e.name in ROUTINE_PEER


def _key(e: TraceEvent) -> str:
    if e.kind == FRAME:
        return f"{e.name} {e.src}→{e.dst}"
    return f"{e.src}: {e.name}"


def fold_rows(
    events: Sequence[TraceEvent],
    keep: Collection[int] = (),
    *,
    min_run: int = 16,
    edge: int = 3,
    context: int = 2,
) -> list[Row]:
    """The rows to draw: trace indices, with routine stretches longer than ``min_run`` folded.

    ``keep`` (trace indices, e.g. a failure's events) and ``context`` events
    either side of each are never folded; a folded stretch shows its first and
    last ``edge`` events.
    """
    pinned = {j for i in keep for j in range(i - context, i + context + 1)}
    rows: list[Row] = []
    stretch: list[int] = []

    def flush() -> None:
        if len(stretch) <= max(min_run, 2 * edge + 1):
            rows.extend(stretch)
        else:
            hidden = stretch[edge:-edge] if edge else stretch
            counts = Counter(_key(events[i]) for i in hidden)
            rows.extend(stretch[:edge])
            rows.append(
                Fold(
                    first=hidden[0],
                    last=hidden[-1],
                    t0=events[hidden[0]].t,
                    t1=events[hidden[-1]].t,
                    counts=tuple(counts.most_common()),
                )
            )
            rows.extend(stretch[len(stretch) - edge :] if edge else [])
        stretch.clear()

    for i, e in enumerate(events):
        if routine(e) and i not in pinned:
            stretch.append(i)
        else:
            flush()
            rows.append(i)
    flush()
    return rows


def fold_events(
    events: Sequence[TraceEvent],
    *,
    over: int = FOLD_OVER,
    context: int = DISK_CONTEXT,
    edge: int = 3,
) -> list[TraceEvent]:
    """``events`` as stored: unchanged up to ``over`` events, else with routine stretches folded.

    Each folded stretch becomes one ``harness`` event named ``folded`` at the
    stretch's first time, with ``events`` (how many it stands for), ``until``
    (its last time) and ``counts`` (what they were, most frequent first). Every
    event that is not routine, and ``context`` events either side of each, is
    kept, so a cut shows the frames that led to it and the recovery after it.

    One pass, holding only a stretch's first and last few events and the
    counts of its middle: a trace read from disk (``harness.trace.spool``) is
    folded without ever being in memory whole.
    """
    if len(events) <= over:
        return list(events)
    folder = Folder(context=context, edge=edge)
    for e in events:
        folder.feed(e)
    return folder.finish()


class Folder:
    """``fold_events`` one event at a time: ``feed`` the trace in order, then ``finish``.

    For a pass over a trace on disk that does other work on the way
    (``harness.artifacts``); it keeps the folded trace so far and one stretch's ends.
    """

    def __init__(self, *, context: int = DISK_CONTEXT, edge: int = 3) -> None:
        self.context = context
        self.out: list[TraceEvent] = []
        self._stretch = _Stretch(edge, context + 2 * edge + 1)
        self._pin_until = -1  # events up to this index follow a story event closely: kept
        self._i = -1

    def feed(self, e: TraceEvent) -> None:
        self._i += 1
        i = self._i
        if i > self._pin_until and routine(e):
            self._stretch.push(i, e)
            return
        story = not routine(e)
        self.out += self._stretch.flush(pinned_from=i - self.context if story else None)
        self.out.append(e)
        if story:
            self._pin_until = i + self.context

    def finish(self) -> list[TraceEvent]:
        """The folded trace (the stretch still open is folded as it is)."""
        self.out += self._stretch.flush(pinned_from=None)
        return self.out


class _Stretch:
    """A run of routine events on its way to being stored: its first ``edge`` events,
    its last ``keep`` events, and only counts for the ones between."""

    def __init__(self, edge: int, keep: int) -> None:
        self.edge, self.keep = edge, keep
        self.head: list[tuple[int, TraceEvent]] = []
        self.tail: deque[tuple[int, TraceEvent]] = deque()
        self.middle: Counter[str] = Counter()
        self.middle_n = 0
        self.middle_first: tuple[int, float] | None = None

    def push(self, i: int, e: TraceEvent) -> None:
        if len(self.head) < self.edge:
            self.head.append((i, e))
            return
        self.tail.append((i, e))
        if len(self.tail) > self.keep:
            j, old = self.tail.popleft()
            if self.middle_first is None:
                self.middle_first = (j, old.t)
            self.middle[_key(old)] += 1
            self.middle_n += 1

    def flush(self, pinned_from: int | None) -> list[TraceEvent]:
        """The stretch as stored; its events from index ``pinned_from`` on are kept
        as they were (they lead up to a story event)."""
        cut = len(self.tail)
        if pinned_from is not None:
            while cut and self.tail[cut - 1][0] >= pinned_from:
                cut -= 1
        items = list(self.tail)
        free, pinned = items[:cut], items[cut:]
        n = len(self.head) + self.middle_n + len(free)
        out: list[TraceEvent]
        if n <= 2 * self.edge + 1:  # nothing worth folding (the middle is empty then)
            out = [e for _, e in self.head + free]
        else:
            last = free[len(free) - self.edge :] if self.edge else []
            hidden = free[: len(free) - len(last)]
            counts = self.middle.copy()
            for _, e in hidden:
                counts[_key(e)] += 1
            first = self.middle_first or (hidden[0][0], hidden[0][1].t)
            end_i, end_e = hidden[-1]
            fields = {
                "events": end_i - first[0] + 1,
                "until": round(end_e.t, 6),
                "counts": dict(counts.most_common()),
            }
            folded = TraceEvent(t=first[1], kind=HARNESS, name=FOLDED, fields=fields)
            out = [e for _, e in self.head] + [folded] + [e for _, e in last]
        out += [e for _, e in pinned]
        self.head, self.tail, self.middle = [], deque(), Counter()
        self.middle_n, self.middle_first = 0, None
        return out
