"""The story of a long trace: what patterns and scenario checks read when it is on disk.

Patterns and most scenario checks ask about the story of a cell (who
opened, attached, was cut, reconnected, and that transfers, credit and
settlements followed), not about the 99,000th transfer. For a trace read
from disk (``harness.trace.spool``) they read this view instead, built in
the same pass that folds the stored trace: every event except routine
frames (``harness.trace.fold.routine``: transfers, dispositions, flows and
heartbeats that went well), and after each story event on a connection
the first ``SAMPLE`` routine frames of each kind and direction on it. Peer
and harness events are all kept. The invariants, which must see every
frame, read the whole trace, and so does a check that counts ids on the
wire.

It is a subsequence of the trace in trace order, so a pattern that matches
here matches in the trace. Patterns with a ``never`` step read the whole
trace (a forbidden frame may hide among the routine ones).
"""

from __future__ import annotations

from harness.trace.fold import routine
from harness.trace.model import FRAME, TraceEvent

__all__ = ["SAMPLE", "StoryView"]

#: routine frames of each kind and direction kept after each story event of a connection
SAMPLE = 8


class StoryView:
    """Fed a trace in order (``feed``); ``events`` is its story, ``frames`` counts every frame."""

    def __init__(self, sample: int = SAMPLE) -> None:
        self.sample = sample
        self.events: list[TraceEvent] = []
        self.frames = 0
        self._epoch: dict[str | None, int] = {}  # connection -> story events seen on it
        # (connection, frame name, sender) -> (epoch, routine frames kept in that epoch)
        self._kept: dict[tuple[str | None, str, str | None], tuple[int, int]] = {}

    def feed(self, e: TraceEvent) -> None:
        if e.kind == FRAME:
            self.frames += 1
            if routine(e):
                key = (e.conn, e.name, e.src)
                epoch = self._epoch.get(e.conn, 0)
                seen, n = self._kept.get(key, (epoch, 0))
                if seen != epoch:
                    n = 0
                if n < self.sample:
                    self._kept[key] = (epoch, n + 1)
                    self.events.append(e)
                return
        self.events.append(e)
        if e.conn is not None:
            self._epoch[e.conn] = self._epoch.get(e.conn, 0) + 1
