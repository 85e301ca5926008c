"""Finding a pattern's steps in a trace: the ordered-subsequence search.

Why a search of our own: a handshake is a *subsequence* of the trace (other
frames, heartbeats and the other connections' events come in between), some
steps must *not* occur between two others (``never``), some may come in any
order (``any_order``), and a value captured at one step constrains later
ones. Steps are matched at their earliest position, which is optimal for a
plain subsequence; only steps that bind new captures are retried later, so
the search is linear in the common case and bounded (``_SEARCH_BUDGET``)
otherwise. A failed search returns the :class:`Attempt` that got furthest,
which :mod:`harness.trace.explain` turns into text.

A pattern is tried on *views* of the trace: each connection, the whole trace,
or each link (see :data:`harness.trace.steps.SCOPES`). Heartbeats (empty
frames, AMQP 1.0 2.3.2) are in no view: any side may send them at any time
after its open, so no pattern may depend on them or be upset by them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.trace.model import CONN, FRAME, TraceEvent
from harness.trace.predicates import MISSING, Ctx, fits
from harness.trace.steps import AnyOrder, Forbid, Never, Step
from harness.trace.topology import client_of, conn_ids, index_links

__all__ = ["Attempt", "Pos", "View", "beat", "forbid_window", "last_pos", "search", "views_of"]

# events examined per view before the matcher stops retrying captures at later
# positions (the first, greedy pass always completes: it is linear in the view)
_SEARCH_BUDGET = 2_000_000


@dataclass
class View:
    """The events one attempt sees: their trace indices and a label for messages."""

    label: str  # "c1 (hello->broker)", "link L on c1", "whole trace"
    conn: str | None
    indices: list[int]


def beat(e: TraceEvent) -> bool:
    """An empty frame: a heartbeat, which patterns never see."""
    return e.kind == FRAME and e.name == "empty"


def _label_ok(spec: Any, value: str | None) -> bool:
    if spec is None:
        return True
    return fits(spec, MISSING if value is None else value, Ctx({}))


def views_of(
    events: Sequence[TraceEvent],
    scope: str,
    client: Any,
    server: Any,
    conn_id: str | None,
    link: Any,
) -> tuple[list[View], str]:
    """The event subsets a pattern is tried on, and a note on what was available."""
    if scope == "trace":
        return [View("whole trace", None, [i for i, e in enumerate(events) if not beat(e)])], ""
    conns = []
    for cid in conn_ids(events):
        c, s = client_of(events, cid)
        if (conn_id is None or cid == conn_id) and _label_ok(client, c) and _label_ok(server, s):
            conns.append((cid, c, s))
    available = ", ".join(
        f"{cid} {c}->{s}" for cid in conn_ids(events) for c, s in [client_of(events, cid)]
    )
    loose = [i for i, e in enumerate(events) if e.conn is None]
    views: list[View] = []
    if scope == "connection":
        for cid, c, s in conns:
            indices = sorted(
                [i for i, e in enumerate(events) if e.conn == cid and not beat(e)] + loose
            )
            views.append(View(f"{cid} ({c}->{s})", cid, indices))
        return views, available
    idx = index_links(events)
    for cid, _c, _s in conns:
        conn_events = [i for i, e in enumerate(events) if e.conn == cid and e.kind == CONN]
        for info in idx.links_of(cid):
            if not _label_ok(link, info.name):
                continue
            indices = sorted(set(info.indices + conn_events + loose))
            label = f"link {info.name} on {cid} ({info.sender}->{info.receiver})"
            views.append(View(label, cid, indices))
    links = ", ".join(f"{i.name} on {i.conn}" for i in idx.links.values())
    return views, f"{available}; links: {links or 'none'}"


@dataclass
class Attempt:
    """How far the best failed attempt got, for the explanation."""

    k: int  # index of the failing step (== number of steps satisfied)
    kind: str  # "missing" | "never"
    pos: int  # view position where the failing step was looked for (window start)
    matched: list[Pos]  # view positions per satisfied step
    caps: dict[str, Any]
    bad: int | None = None  # view position of the forbidden event
    until: int | None = None  # view position of the step closing a never window
    member: int | None = None  # the missing member of an any_order group


# where a step matched: a position, the positions of an any_order group, or None (never)
Pos = int | tuple[int, ...] | None


def last_pos(p: Pos) -> int | None:
    """The last view position of a match (an any_order group ends at its latest)."""
    return max(p) if isinstance(p, tuple) else p


def search(
    steps: Sequence[Step | Never | AnyOrder], view: list[TraceEvent], caps0: dict[str, Any]
) -> tuple[list[Pos], dict[str, Any]] | Attempt:
    """Find the steps in order in ``view``; the matched positions or the best failure.

    Steps are matched at their earliest position, which is optimal for a plain
    subsequence; only steps that bind new captures are retried at later
    positions (a different value may let later steps match).
    """
    n = len(steps)
    best: list[Attempt | None] = [None]
    work = [0]

    def fail(a: Attempt) -> None:
        if best[0] is None or a.k > best[0].k:
            best[0] = a

    def rec(k: int, pos: int, caps: dict[str, Any], matched: list[Pos]) -> Any:
        j = k
        nevers: list[tuple[int, Step]] = []
        while j < n and isinstance(steps[j], Never):
            nevers.append((j, steps[j].step))  # type: ignore[union-attr]
            j += 1
        pad: list[Pos] = [None] * len(nevers)

        def violation(start: int, end: int, c: dict[str, Any]) -> tuple[int, int] | None:
            if nevers:
                work[0] += end - start
            for q in range(start, end):
                for ni, ns in nevers:
                    if ns.test(view[q], c) is not None:
                        return ni, q
            return None

        if j == n:
            v = violation(pos, len(view), caps)
            if v is not None:
                fail(Attempt(v[0], "never", pos, matched, caps, bad=v[1]))
                return None
            return matched + pad, caps
        step = steps[j]
        if isinstance(step, AnyOrder):
            used: list[int] = []
            group_caps = dict(caps)
            for m, member in enumerate(step.steps):
                for p in range(pos, len(view)):
                    if p in used:
                        continue
                    binds = member.test(view[p], group_caps)
                    if binds is not None:
                        used.append(p)
                        group_caps.update(binds)
                        break
                else:
                    fail(Attempt(j, "missing", pos, matched + pad, group_caps, member=m))
                    return None
            v = violation(pos, min(used), group_caps)
            if v is not None:
                fail(Attempt(v[0], "never", pos, matched, caps, bad=v[1], until=min(used)))
                return None
            return rec(j + 1, max(used) + 1, group_caps, matched + pad + [tuple(used)])
        assert isinstance(step, Step)
        seen: set[str] = set()
        for p in range(pos, len(view)):
            work[0] += 1
            binds = step.test(view[p], caps)
            if binds is None:
                continue
            frozen = repr(sorted(binds.items(), key=lambda kv: kv[0])) if binds else ""
            if frozen in seen:
                continue
            new_caps = {**caps, **binds}
            v = violation(pos, p, new_caps)
            if v is not None:
                fail(Attempt(v[0], "never", pos, matched, caps, bad=v[1], until=p))
                return None
            found = rec(j + 1, p + 1, new_caps, matched + pad + [p])
            if found is not None:
                return found
            if not binds or work[0] > _SEARCH_BUDGET:
                return None
            seen.add(frozen)
        if not seen:
            fail(Attempt(j, "missing", pos, matched + pad, caps))
        return None

    found = rec(0, 0, dict(caps0), [])
    if found is not None:
        return found
    assert best[0] is not None
    return best[0]


def forbid_window(
    fb: Forbid, vevents: list[TraceEvent], caps0: dict[str, Any]
) -> tuple[int | None, int | None, int | None, dict[str, Any]]:
    """(after position, before position, offending position, captures) in one view."""
    caps = dict(caps0)
    start = 0
    after_at = None
    if fb.after is not None:
        for p, e in enumerate(vevents):
            binds = fb.after.test(e, caps)
            if binds is not None:
                caps.update(binds)
                after_at, start = p, p + 1
                break
        else:
            return None, None, None, caps  # the window never opens
    end = len(vevents)
    before_at = None
    if fb.before is not None:
        for p in range(start, len(vevents)):
            binds = fb.before.test(vevents[p], caps)
            if binds is not None:
                before_at = end = p
                break
    for p in range(start, end):
        if fb.step.test(vevents[p], caps) is not None:
            return after_at, before_at, p, caps
    return after_at, before_at, None, caps
