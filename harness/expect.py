"""Turning trace patterns into scenario checks, and every failure into a cited reason.

A scenario lists what its trace must show; each item becomes a check that
returns a ``Failure`` whose rule id is stable (for known-failure entries and
reports) and whose message says what broke and who deviated: the basis of
the step that failed (a section of AMQP 1.0, or the tutorial behaviour a
reference peer implements) and the side it holds to it, then the pattern's
own first lines of explanation::

    broke 2.6.7 flow control (broker (embedded)): pattern "..." did not match ...

The full explanation goes to the artifacts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.scenario import CellRun, Check, Failure
from harness.trace.basis import BROKER, Basis, spec
from harness.trace.model import CONN, FRAME
from harness.trace.patterns import Forbid, Pattern, Step, match

__all__ = ["attach", "cited", "expect", "outcome", "violation_failure", "who"]


def _summary(text: str, limit: int = 400) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    picked = [
        ln for ln in lines if ln.startswith(("expected", "matched", "trace stopped", "found"))
    ]
    head = lines[0] if lines else "pattern did not match"
    return " | ".join([head, *picked[:3]])[:limit]


def who(run: CellRun | None, side: str | None) -> str:
    """A side as a reason names it: ``broker (embedded:presettled)``, ``sender (js)``."""
    if side is None:
        return "unattributed"
    if run is None:
        return side
    if side == BROKER:
        name = (run.broker or {}).get("name")
        return f"broker ({name})" if name else "broker"
    impl = run.roles.get(side)
    return f"{side} ({impl})" if impl else side


def cited(basis: Basis | None, side: str | None, run: CellRun | None) -> str:
    """``broke 2.6.7 flow control (sender (js))``: what broke and who deviated."""
    if basis is None:
        return f"broke an uncited check ({who(run, side)})"
    return f"broke {basis.cite()} ({who(run, side if side is not None else basis.side)})"


def violation_failure(v: Any, run: CellRun | None) -> Failure:
    """An invariant violation as a cell's failure, citing the invariant's basis."""
    from harness.trace.invariants import RULES

    row = RULES.get(v.rule)
    basis = row.basis if row is not None else None
    return Failure(v.rule, f"{cited(basis, v.side, run)}: {v.message}")


def _hung_up_on(run: CellRun, result: Any, side: str | None) -> str | None:
    """Who closed the TCP connection before ``side`` sent the missing step, if anyone.

    A step can only be missed by a side that could still send it: when the other
    side dropped the connection after the last step matched and nothing more came
    from ``side``, the other side deviated (2.4.3: a closing peer SHOULD read on
    until the partner's close arrives).
    """
    last = next((e for e in reversed(result.events) if e is not None), None)
    if isinstance(last, tuple):
        last = max(last, key=lambda e: e.t)
    if side is None or last is None or last.conn is None or not isinstance(result.failed, Step):
        return None  # (a never step broken is something that did happen: no one hung up)
    closed: Any = None
    ends = {last.src, last.dst}
    for e in run.trace:  # one pass, nothing kept: the trace may be long and on disk
        if e.conn != last.conn or e.t <= last.t:
            continue
        if e.kind == FRAME and e.src == side and e.name != "empty":
            return None
        if e.kind in (FRAME, CONN):
            ends.add(e.src)
        if closed is None and e.kind == CONN and e.name == "close":
            closed = e
    by = closed.fields.get("by") if closed is not None else None
    return by if by not in (None, side, "tap", "tap-stop", "unknown") and by in ends else None


def expect(rule: str, pattern: Pattern | Forbid, **match_kw: Any) -> Check:
    """A check: ``pattern`` must match (or a ``Forbid`` must hold) in the cell's trace.

    ``match_kw`` values may be callables of the ``CellRun`` (resolved per cell),
    e.g. ``client=lambda run: ...``. The check carries ``patterns`` for the
    audit of citations and the docs table.
    """

    def check(run: CellRun) -> list[Failure]:
        kw = {k: (v(run) if callable(v) and k != "client" else v) for k, v in match_kw.items()}
        # a pattern reads the story (the trace itself unless it is long and on disk); a
        # forbidden step may hide among routine frames, so a Forbid reads every event
        events = run.trace if isinstance(pattern, Forbid) else run.story
        result = match(pattern, events, **kw)
        if result.ok:
            return []
        basis = getattr(result.failed, "basis", None)
        side = basis.side if basis else None
        hung_up = _hung_up_on(run, result, side)
        if hung_up is not None:  # the side could not send it: the other one had hung up
            basis, side = spec("2.4.3"), hung_up
        head = cited(basis, side, run)
        return [Failure(rule, f"{head}: {_summary(result.explain())}", result.explain())]

    check.__name__ = f"expect_{rule}"
    check.rule = rule  # type: ignore[attr-defined]
    check.patterns = (pattern,)  # type: ignore[attr-defined]
    return check


#: what an outcome test returns: a problem (the basis's side deviated), or (side, problem)
Problem = str | tuple[str, str] | None


def outcome(rule: str, test: Callable[[CellRun], Problem], basis: Basis | None = None) -> Check:
    """A check from a function that returns a one-line problem, or None when all is well.

    With a ``basis`` the problem is cited like a pattern step's; the test may
    name the side that deviated by returning ``(side, problem)``.
    """

    def check(run: CellRun) -> list[Failure]:
        problem = test(run)
        if not problem:
            return []
        side, text = problem if isinstance(problem, tuple) else (None, problem)
        if basis is not None:
            text = f"{cited(basis, side or basis.side, run)}: {text}"
        return [Failure(rule, text)]

    check.__name__ = f"outcome_{rule}"
    check.rule = rule  # type: ignore[attr-defined]
    check.basis = basis  # type: ignore[attr-defined]
    doc = (test.__doc__ or "").strip().splitlines()
    check.summary = doc[0].rstrip(".") if doc else rule  # type: ignore[attr-defined]
    return check


def attach(*, link: Any = None, **kw: Any):
    """``frame("attach", ...)`` that can also test the link's ``name`` field (``link=``)."""
    from harness.trace.patterns import frame

    step = frame("attach", **kw)
    if link is not None:
        step.fields["name"] = link
    return step
