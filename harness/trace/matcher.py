"""``match()``: a pattern against a trace, with a result that explains itself.

The entry point of sequence patterns. It picks the views the scope asks for
(:mod:`harness.trace.search`), runs the search or the forbidden-window check
on each, and returns a :class:`MatchResult` holding the matched events, the
captures and the text of :mod:`harness.trace.explain`. A :class:`Pattern`
must match in at least one view; a :class:`Forbid` must hold in every view.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.trace.explain import explain_forbid, explain_pattern
from harness.trace.model import TraceEvent
from harness.trace.predicates import show
from harness.trace.search import Attempt, Pos, View, forbid_window, search, views_of
from harness.trace.steps import SCOPES, AnyOrder, Forbid, Never, Pattern, Step

__all__ = ["MatchResult", "assert_match", "match"]


@dataclass
class MatchResult:
    """What :func:`match` found; ``explain()`` is the text to show on failure."""

    ok: bool
    pattern: Pattern | Forbid
    scope: str
    view: str | None = None
    # per step: a trace index (a tuple of them for any_order groups; None for never-steps)
    indices: list[int | tuple[int, ...] | None] = field(default_factory=list)
    events: list[TraceEvent | tuple[TraceEvent, ...] | None] = field(default_factory=list)
    captures: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    #: the step a failed match stopped at (an any_order group's missing member; the
    #: forbidden step of a Forbid): its ``basis`` says what broke and who deviated
    failed: Step | Never | AnyOrder | None = None

    def __bool__(self) -> bool:
        return self.ok

    def explain(self) -> str:
        """Multi-line text: the steps with what matched them, or where and why it failed."""
        return self.text


def _to_trace(view: View, p: Pos) -> int | tuple[int, ...] | None:
    if isinstance(p, tuple):
        return tuple(view.indices[q] for q in p)
    return view.indices[p] if p is not None else None


def _events_at(
    events: list[TraceEvent], i: int | tuple[int, ...] | None
) -> TraceEvent | tuple[TraceEvent, ...] | None:
    if isinstance(i, tuple):
        return tuple(events[q] for q in i)
    return events[i] if i is not None else None


def match(
    pattern: Pattern | Forbid | Never,
    events: Sequence[TraceEvent],
    scope: str | None = None,
    *,
    client: Any = None,
    server: Any = None,
    conn: str | None = None,
    link: Any = None,
    bind: dict[str, Any] | None = None,
) -> MatchResult:
    """Match a pattern (or check a forbidden step) against a trace.

    ``scope`` defaults to the pattern's. ``client``/``server`` restrict the
    connections tried by endpoint label (a value or a predicate), ``conn`` to one
    connection id, ``link`` to links by name; ``bind`` pre-binds captures.
    A :class:`Pattern` must match in at least one view; a :class:`Forbid` (or a
    bare ``never(step)``) must hold in every view.
    """
    if isinstance(pattern, Never):
        pattern = Forbid(f"never {pattern.step.describe()}", pattern.step)
    scope = scope or pattern.scope
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; one of {', '.join(SCOPES)}")
    client = client if client is not None else pattern.client
    events = list(events)
    caps0 = dict(bind or {})
    views, available = views_of(events, scope, client, server, conn, link)
    if isinstance(pattern, Forbid):
        return _match_forbid(pattern, events, scope, views, caps0)
    if not views:
        text = _no_view_text(pattern, scope, available, client, server, conn, link)
        return MatchResult(False, pattern, scope, None, text=text)
    return _match_pattern(pattern, events, scope, views, caps0)


def _match_forbid(
    pattern: Forbid,
    events: list[TraceEvent],
    scope: str,
    views: list[View],
    caps0: dict[str, Any],
) -> MatchResult:
    """The forbidden step must not occur in its window in any view."""
    for view in views:
        vevents = [events[i] for i in view.indices]
        found = forbid_window(pattern, vevents, caps0)
        if found[2] is not None:
            text = explain_forbid(pattern, view, vevents, found, len(views))
            failed = pattern.step
            if pattern.basis is not None and failed.basis is None:
                failed = Step(failed.kind, failed.name, failed.attrs, failed.fields, pattern.basis)
            return MatchResult(
                False, pattern, scope, view.label, text=text, captures=found[3], failed=failed
            )
    text = explain_forbid(pattern, None, [], None, len(views))
    return MatchResult(True, pattern, scope, None, text=text)


def _no_view_text(
    pattern: Pattern,
    scope: str,
    available: str,
    client: Any,
    server: Any,
    conn: str | None,
    link: Any,
) -> str:
    """Why a pattern had nothing to match against: the views asked for, those there were."""
    what = "link" if scope == "link" else "connection"
    wanted = []
    if client is not None:
        wanted.append(f"client {show(client)}")
    if server is not None:
        wanted.append(f"server {show(server)}")
    if conn is not None:
        wanted.append(f"id {conn}")
    if link is not None:
        wanted.append(f"link name {show(link)}")
    return (
        f'pattern "{pattern.description}" did not match: no {what}'
        f"{' with ' + ', '.join(wanted) if wanted else ''} in the trace "
        f"(available: {available or 'none'})\n" + pattern.describe()
    )


def _match_pattern(
    pattern: Pattern,
    events: list[TraceEvent],
    scope: str,
    views: list[View],
    caps0: dict[str, Any],
) -> MatchResult:
    """The first view (and alternative) the pattern matches in, or the failed attempt
    that got furthest."""
    best: tuple[Pattern, View, list[TraceEvent], Attempt] | None = None
    runs = pattern.flattened()
    for run in runs:
        flat = pattern if len(runs) == 1 else Pattern(pattern.description, run, pattern.scope)
        for view in views:
            vevents = [events[i] for i in view.indices]
            outcome = search(run, vevents, caps0)
            if not isinstance(outcome, Attempt):
                positions, caps = outcome
                indices = [_to_trace(view, p) for p in positions]
                text = explain_pattern(flat, view, vevents, outcome, "")
                return MatchResult(
                    True,
                    pattern,
                    scope,
                    view.label,
                    indices,
                    [_events_at(events, i) for i in indices],
                    caps,
                    text,
                )
            if best is None or outcome.k > best[3].k:
                best = (flat, view, vevents, outcome)
    assert best is not None
    flat, view, vevents, attempt = best
    tried = []
    if len(views) > 1:
        tried.append(f"best of {len(views)} tried")
    if len(runs) > 1:
        tried.append(f"closest of {len(runs)} alternatives")
    text = explain_pattern(flat, view, vevents, attempt, f" ({', '.join(tried)})" if tried else "")
    indices = [_to_trace(view, p) for p in attempt.matched]
    failed = flat.steps[attempt.k]
    if isinstance(failed, AnyOrder) and attempt.member is not None:
        failed = failed.steps[attempt.member]
    return MatchResult(
        False,
        pattern,
        scope,
        view.label,
        indices,
        [_events_at(events, i) for i in indices],
        attempt.caps,
        text,
        failed,  # type: ignore[arg-type]
    )


def assert_match(
    pattern: Pattern | Forbid | Never, events: Iterable[TraceEvent], **kw: Any
) -> MatchResult:
    """:func:`match`, raising ``AssertionError(explain())`` when it fails (for tests)."""
    result = match(pattern, list(events), **kw)
    if not result.ok:
        raise AssertionError(result.explain())
    return result
