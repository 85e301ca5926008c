"""The text a person reads first when a cell fails: a match result, explained.

A failed match lists the pattern with a marker at the step it reached, what
each earlier step matched, what was expected, what came instead (or which
forbidden event came inside which window) and where the trace stopped. A
successful one lists each step with the event that matched it. Kept apart
from the search so the wording can change without touching the algorithm.
"""

from __future__ import annotations

from typing import Any

from harness.trace.model import CONN, FRAME, HEADER, TraceEvent
from harness.trace.render import render_event
from harness.trace.search import Attempt, Pos, View, last_pos
from harness.trace.steps import AnyOrder, Forbid, Never, Pattern, Step

__all__ = ["explain_forbid", "explain_pattern"]


def _noise(e: TraceEvent) -> bool:
    return e.kind == FRAME and e.name == "empty"


def _stopped_at(view: list[TraceEvent]) -> str:
    for e in reversed(view):
        if e.kind in (FRAME, CONN, HEADER) and not _noise(e):
            return "trace stopped at: " + render_event(e).strip()
    return "trace stopped at: (no frames in this scope)"


def _fmt_caps(caps: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in caps.items())


def _step_lines(
    i: int, s: Step | Never | AnyOrder, mark: str, width: int, at: Pos | str, vevents: list
) -> list[str]:
    """The listing line(s) of one step: what it expects and what it matched."""

    def shown(p: int | None) -> str:
        return render_event(vevents[p]).strip() if p is not None else "(held)"

    if isinstance(s, AnyOrder):
        lines = [f"{mark} {i + 1:>2}. any order:" + (f"  {at}" if isinstance(at, str) else "")]
        for m, member in enumerate(s.steps):
            where = shown(at[m]) if isinstance(at, tuple) and m < len(at) else ""
            lines.append(f"           {member.describe():<{width - 4}}  {where}".rstrip())
        return lines
    where = at if isinstance(at, str) else shown(last_pos(at))
    return [f"{mark} {i + 1:>2}. {s.describe():<{width}}  {where}".rstrip()]


def explain_pattern(
    pattern: Pattern,
    view: View | None,
    vevents: list[TraceEvent],
    outcome: tuple[list[Pos], dict[str, Any]] | Attempt,
    tried: str,
) -> str:
    """The listing of ``pattern`` on one view: what matched, or where and why it failed."""
    steps = pattern.steps
    n = len(steps)
    width = min(64, max(len(s.describe()) for s in steps if not isinstance(s, AnyOrder)) + 4)
    where = f" on {view.label}" if view else ""
    lines: list[str] = []
    if not isinstance(outcome, Attempt):
        positions, caps = outcome
        lines.append(f'pattern "{pattern.description}" matched{where} ({n} steps)')
        for i, s in enumerate(steps):
            lines += _step_lines(i, s, "   ", width, positions[i], vevents)
        if caps:
            lines.append(f"captured: {_fmt_caps(caps)}")
        return "\n".join(lines)
    a = outcome
    lines.append(f'pattern "{pattern.description}" did not match{where}{tried}')
    lines.append(f"matched {a.k} of {n} steps:")
    for i, s in enumerate(steps):
        mark = " >>" if i == a.k else "   "
        at: Pos | str = ""
        if i < a.k:
            at = a.matched[i] if i < len(a.matched) else None
        elif i == a.k:
            at = "<- violated here" if a.kind == "never" else "<- expected here"
        lines += _step_lines(i, s, mark, width, at, vevents)
    if a.caps:
        lines.append(f"captured: {_fmt_caps(a.caps)}")
    if a.kind == "missing":
        step = steps[a.k]
        if isinstance(step, AnyOrder):
            assert a.member is not None
            step = step.steps[a.member]
            lines.append(f"expected step {a.k + 1} (any order group): {step.describe()}")
        else:
            lines.append(f"expected step {a.k + 1}: {step.describe()}")
        assert isinstance(step, Step)
        early = next((e for e in vevents[: a.pos] if step.test(e, a.caps) is not None), None)
        if early is not None:
            lines.append(
                "  (out of order: it came earlier, at " + render_event(early).strip() + ")"
            )
        rest = [e for e in vevents[a.pos :] if not _noise(e)][:5]
        if rest:
            lines.append(f"came instead (next {len(rest)}):")
            lines += ["  " + render_event(e) for e in rest]
        else:
            lines.append("came instead: nothing (no further events in this scope)")
    else:
        assert a.bad is not None
        lines.append(f"step {a.k + 1} violated: {steps[a.k].describe()}")
        prev = next((last_pos(p) for p in reversed(a.matched) if p is not None), None)
        start = render_event(vevents[prev]).strip() if prev is not None else "the start"
        end = render_event(vevents[a.until]).strip() if a.until is not None else "the end"
        lines.append(f"  window: after {start}")
        lines.append(f"          until {end}")
        lines.append("but came:")
        lines.append("  " + render_event(vevents[a.bad]))
    lines.append(_stopped_at(vevents))
    return "\n".join(lines)


def explain_forbid(
    fb: Forbid,
    view: View | None,
    vevents: list[TraceEvent],
    found: tuple[int | None, int | None, int | None, dict[str, Any]] | None,
    nviews: int,
) -> str:
    """What the forbidden step's check found (``found`` from ``forbid_window``)."""
    where = f" on {view.label}" if view else ""
    if found is None or found[2] is None:
        return f'forbidden "{fb.description}" did not happen ({nviews} scope(s) checked)'
    after_at, before_at, bad, caps = found
    lines = [f'forbidden "{fb.description}" happened{where}:', f"  never  {fb.step.describe()}"]
    if fb.after is not None:
        assert after_at is not None
        at = render_event(vevents[after_at]).strip()
        lines.append(f"  after  {fb.after.describe():<50} first at {at}")
    if fb.before is not None:
        at = render_event(vevents[before_at]).strip() if before_at is not None else "never came"
        lines.append(f"  before {fb.before.describe():<50} first at {at}")
    if caps:
        lines.append(f"captured: {_fmt_caps(caps)}")
    lines.append("but came:")
    lines.append("  " + render_event(vevents[bad]))
    earlier = [e for e in vevents[:bad] if not _noise(e)][-3:]
    if earlier:
        lines.append("after:")
        lines += ["  " + render_event(e) for e in earlier]
    lines.append(_stopped_at(vevents))
    return "\n".join(lines)
