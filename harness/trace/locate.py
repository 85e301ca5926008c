"""Where a cell's failures are on its trace: the events a diagram should highlight.

``verdict.json`` keeps each failure as text (rule, message, detail); the
trace is next to it. This module finds the events those texts are about,
without the harness having to store indices:

- an invariant failure is found again by running that rule on the trace and
  taking the violation with the same message (its trace index is exact);
- a pattern failure's explanation quotes events as ``render_event`` lines
  (``0.208 c2 sender->broker transfer ...``): the event after "but came:" or
  the first after "came instead" is where it went wrong (else where the trace
  stopped), the quoted events before the ``>>`` step are the steps matched;
- any other message that quotes a rendered event (``trace stopped at: ...``)
  points at that event.

A failure may have no spot (an outcome check: "3 of 100 ids never received").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.trace.model import TraceEvent
from harness.trace.render import render_event

__all__ = ["FAILED", "MATCHED", "Spot", "by_index", "locate"]

#: the event where the failure is (a red band on the diagram)
FAILED = "failed"
#: an event a pattern step matched before it failed (a light band)
MATCHED = "matched"

_TIME = re.compile(r"(?<![\d.])(\d+\.\d{3}) ")
_FAIL_MARKERS = ("but came:", "came instead")


@dataclass(frozen=True)
class Spot:
    """One highlighted event: its trace index, ``FAILED`` or ``MATCHED``, and which failure."""

    index: int
    kind: str
    failure: int


class _Quotes:
    """Finds events quoted as rendered lines in a text, by their time stamp first."""

    def __init__(self, events: Sequence[TraceEvent]) -> None:
        self.events = events
        self.by_time: dict[str, list[int]] = {}
        for i, e in enumerate(events):
            self.by_time.setdefault(f"{e.t:.3f}", []).append(i)
        self._rendered: dict[int, str] = {}

    def _line(self, i: int) -> str:
        if i not in self._rendered:
            self._rendered[i] = render_event(self.events[i]).strip()
        return self._rendered[i]

    def in_line(self, line: str) -> list[int]:
        """Trace indices of the events quoted in one line of text, in order."""
        found = []
        for m in _TIME.finditer(line):
            rest = line[m.start() :]
            hits = [i for i in self.by_time.get(m.group(1), ()) if rest.startswith(self._line(i))]
            if hits:  # the longest rendering wins (a prefix of another event's line)
                found.append(max(hits, key=lambda i: len(self._line(i))))
        return found


def _pattern_spots(text: str, quotes: _Quotes, n: int) -> list[Spot]:
    """Spots of an explained pattern: matched steps, then where it failed."""
    matched: list[int] = []
    failed: list[int] = []
    stopped: list[int] = []
    section = "steps"
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">>"):
            section = "after"
        if any(stripped.startswith(m) for m in _FAIL_MARKERS):
            section = "failed"
            if "came instead: nothing" in stripped:
                section = "after"
            continue
        if stripped.startswith("trace stopped at:"):
            stopped += quotes.in_line(stripped)
            continue
        hits = quotes.in_line(line)
        if section == "steps":
            matched += hits
        elif section == "failed" and hits:
            failed.append(hits[0])
            section = "after"
    where = failed or stopped[:1]
    spots = [Spot(i, MATCHED, n) for i in matched if i not in where]
    return spots + [Spot(i, FAILED, n) for i in where]


def _invariant_spots(
    rule: str, message: str, events: Sequence[TraceEvent], cache: dict[str, Any], n: int
) -> list[Spot] | None:
    """The violation of ``rule`` with this message, found again; None when rule is no invariant."""
    from harness.trace import invariants

    if rule not in invariants.RULES:
        return None
    if rule not in cache:
        cache[rule] = invariants.check(events, rules=[rule])
    # the failure may prefix the violation's message (with its basis, its side)
    same = [v for v in cache[rule] if v.message in message and v.index is not None]
    return [Spot(v.index, FAILED, n) for v in same[:1] if v.index is not None]


def locate(events: Sequence[TraceEvent], failures: Sequence[Mapping[str, Any]]) -> list[Spot]:
    """The spots of every failure (``verdict.json``'s ``failures`` entries), in failure order.

    Within one failure an index appears once (failed wins over matched); two
    failures may point at one event (see :func:`by_index`).
    """
    quotes = _Quotes(events)
    cache: dict[str, Any] = {}
    found: list[Spot] = []
    for n, f in enumerate(failures):
        rule, message = str(f.get("rule") or ""), str(f.get("message") or "")
        detail = str(f.get("detail") or "")
        spots = _invariant_spots(rule, message, events, cache, n)
        if not spots and detail:
            spots = _pattern_spots(detail, quotes, n)
        if not spots:
            spots = [Spot(i, FAILED, n) for i in quotes.in_line(message)[:1]]
        failed = {s.index for s in spots if s.kind == FAILED}
        mine = {s.index: s for s in spots if s.kind == FAILED or s.index not in failed}
        found += sorted(mine.values(), key=lambda s: (s.kind != FAILED, s.index))
    return found


def by_index(spots: Sequence[Spot]) -> dict[int, Spot]:
    """One spot per trace index: a failed spot over a matched one, else the earliest failure's."""
    best: dict[int, Spot] = {}
    for s in spots:
        old = best.get(s.index)
        if old is None or (old.kind == MATCHED and s.kind == FAILED):
            best[s.index] = s
    return best
