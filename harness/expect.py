"""Turning trace patterns into scenario checks.

A scenario lists what its trace must show; each item becomes a check that
returns a ``Failure`` whose rule id is stable (for known-failure entries and
reports) and whose message is the pattern's own first line of explanation.
The full explanation goes to the artifacts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.scenario import CellRun, Check, Failure
from harness.trace.patterns import Forbid, Pattern, match


def _summary(text: str, limit: int = 400) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    picked = [
        ln for ln in lines if ln.startswith(("expected", "matched", "trace stopped", "found"))
    ]
    head = lines[0] if lines else "pattern did not match"
    return " | ".join([head, *picked[:3]])[:limit]


def expect(rule: str, pattern: Pattern | Forbid, **match_kw: Any) -> Check:
    """A check: ``pattern`` must match (or a ``Forbid`` must hold) in the cell's trace.

    ``match_kw`` values may be callables of the ``CellRun`` (resolved per cell),
    e.g. ``client=lambda run: ...``.
    """

    def check(run: CellRun) -> list[Failure]:
        kw = {k: (v(run) if callable(v) and k != "client" else v) for k, v in match_kw.items()}
        result = match(pattern, run.trace, **kw)
        if result.ok:
            return []
        return [Failure(rule, _summary(result.explain()), result.explain())]

    check.__name__ = f"expect_{rule}"
    return check


def outcome(rule: str, test: Callable[[CellRun], str | None]) -> Check:
    """A check from a function that returns a one-line problem, or None when all is well."""

    def check(run: CellRun) -> list[Failure]:
        problem = test(run)
        return [Failure(rule, problem)] if problem else []

    check.__name__ = f"outcome_{rule}"
    return check


def attach(*, link: Any = None, **kw: Any):
    """``frame("attach", ...)`` that can also test the link's ``name`` field (``link=``)."""
    from harness.trace.patterns import frame

    step = frame("attach", **kw)
    if link is not None:
        step.fields["name"] = link
    return step
