"""A long trace on disk is read once, for everything that needs every event.

A trace that spilled to disk (``harness.trace.spool``: a cell of many
thousands of messages) is a few hundred megabytes of events that no longer
sit in memory, and each read of it costs about a second per 100,000
messages. So the artifact stage reads it once and, on the way, gets what
every later step would have read it for: the folded trace to store
(``harness.trace.fold``), the story the patterns and scenario checks read
(``harness.trace.story``), the frame count, and the invariants' verdicts
(``harness.trace.invariants.Checker``) for the checks stage. A trace held in
memory (every cell of the default matrix) is not touched here.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.cell_state import CellState
from harness.checks import invariant_rules
from harness.trace.fold import Folder
from harness.trace.invariants import Checker, cyclic_gc_off
from harness.trace.model import TraceEvent
from harness.trace.story import StoryView

__all__ = ["read_once"]


def read_once(st: CellState, events: Iterable[TraceEvent]) -> None:
    """Fold, tell and check ``events`` in one pass; the results go into ``st``."""
    rules, skip = invariant_rules(st.cell.scenario)
    folder, story, checker = Folder(), StoryView(), Checker(rules, skip)
    with cyclic_gc_off():
        for e in events:
            folder.feed(e)
            story.feed(e)
            checker.feed(e)
    st.stored_events = folder.finish()
    st.story, st.frames = story.events, story.frames
    st.violations = checker.finish()
