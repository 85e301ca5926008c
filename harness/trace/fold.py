"""Long traces folded for reading: runs of routine events become one row.

A 1,000-message cell has thousands of transfers, dispositions, flows and the
peers' per-message events; drawn one per row, the handshake, the cut and the
recovery are lost in a diagram tens of thousands of pixels tall. ``fold_rows``
keeps every event that tells the story (opens, attaches, detaches, closes,
errors, cuts, harness notes, the events to highlight and their neighbours)
and the first and last few of each routine stretch, and replaces the middle
of a long stretch by one :class:`Fold` that counts what it hides
("transfer sender→broker ×498").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from harness.trace.model import FRAME, PEER, TraceEvent

__all__ = ["Fold", "Row", "fold_rows", "routine"]

#: frames that repeat per message or per credit grant
ROUTINE_FRAMES = frozenset({"transfer", "disposition", "flow", "empty"})
#: peer events printed per message (the contract's ``--quiet`` set, and outcomes)
ROUTINE_PEER = frozenset(
    {"sent", "accepted", "released", "modified", "settled", "message", "sendable"}
)


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
