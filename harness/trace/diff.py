"""Compare two implementations' handshakes for the same scenario, frame by frame.

Two peers that both pass a scenario can still speak differently on the wire
(default credit 10 vs 1000, settle modes sent or left to defaults, attach
before or after the remote open, dispositions batched or one by one). A peer
maintainer wants to see exactly that, without the noise of what always
differs between two runs: container ids, link names, delivery tags, times,
host names, generated message ids and dynamic addresses.

Connections are paired by client label and order (the 2nd "sender"
connection of one trace with the 2nd of the other); frames within a pair are
aligned on (direction, performative) with a longest-matching-blocks sequence
alignment (:mod:`.align`), and aligned frames are compared field by field
(:mod:`.diff_fields`: what always differs between runs is left out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.trace.align import opcodes
from harness.trace.diff_fields import IGNORED_FIELDS, field_changes, normalized, placeholders
from harness.trace.model import FRAME, HEADER, TraceEvent
from harness.trace.render import render_fields
from harness.trace.topology import client_of

__all__ = ["IGNORED_FIELDS", "DiffRow", "diff_traces", "render_diff"]

SAME, CHANGED, REPLACED, ONLY_A, ONLY_B = "same", "changed", "replaced", "only_a", "only_b"


@dataclass
class DiffRow:
    """One aligned pair of frames (or a frame present on one side only).

    ``group`` names the connection pair ("sender #2"); ``changes`` lists the
    differing fields as (path, value in a, value in b) after normalization.
    """

    kind: str
    group: str
    a: TraceEvent | None = None
    b: TraceEvent | None = None
    conn_a: str | None = None
    conn_b: str | None = None
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    client: str | None = None  # the client label of the pair (-> is client to server)


def _conn_groups(events: Sequence[TraceEvent]) -> dict[tuple[str | None, int], str]:
    """(client label, n-th connection of that client) -> connection id."""
    seen: dict[str, None] = {}
    for e in events:
        if e.conn is not None and e.kind in (FRAME, HEADER, "conn"):
            seen.setdefault(e.conn, None)
    counts: dict[str | None, int] = {}
    groups: dict[tuple[str | None, int], str] = {}
    for cid in seen:
        client, _ = client_of(events, cid)
        counts[client] = counts.get(client, 0) + 1
        groups[(client, counts[client])] = cid
    return groups


def _frames(events: Sequence[TraceEvent], cid: str) -> list[TraceEvent]:
    return [
        e
        for e in events
        if e.conn == cid and (e.kind == HEADER or (e.kind == FRAME and e.name != "empty"))
    ]


def _key(e: TraceEvent, client: str | None) -> tuple[str, str, str]:
    return ("->" if e.src == client else "<-", e.kind, e.name)


def diff_traces(a_events: Sequence[TraceEvent], b_events: Sequence[TraceEvent]) -> list[DiffRow]:
    """Rows comparing trace a with trace b, connection pair by connection pair."""
    a_events, b_events = list(a_events), list(b_events)
    dyn_a, dyn_b = placeholders(a_events), placeholders(b_events)
    groups_a, groups_b = _conn_groups(a_events), _conn_groups(b_events)
    order = list(groups_a) + [g for g in groups_b if g not in groups_a]
    rows: list[DiffRow] = []
    for client, n in order:
        group = f"{client} #{n}"
        ca, cb = groups_a.get((client, n)), groups_b.get((client, n))
        fa = _frames(a_events, ca) if ca else []
        fb = _frames(b_events, cb) if cb else []
        placed: list[tuple[float, int, DiffRow]] = []
        for direction in ("->", "<-"):
            xa = [(i, e) for i, e in enumerate(fa) if _key(e, client)[0] == direction]
            xb = [(j, e) for j, e in enumerate(fb) if _key(e, client)[0] == direction]
            for pos, row in _align(xa, xb, client, dyn_a, dyn_b):
                row.group, row.conn_a, row.conn_b = group, ca, cb
                placed.append((pos, len(placed), row))
        rows += [row for _, _, row in sorted(placed, key=lambda p: (p[0], p[1]))]
    return rows


def _align(
    xa: list[tuple[int, TraceEvent]],
    xb: list[tuple[int, TraceEvent]],
    client: str | None,
    dyn_a: dict[str, str],
    dyn_b: dict[str, str],
) -> list[tuple[float, DiffRow]]:
    """Align one direction's frames; each row with a sort position in a's order.

    Each direction is aligned on its own: when a frame goes out relative to the
    other side's frames is timing (pipelining), not behaviour, and aligning
    both directions as one sequence would show that noise as differences.
    Rows only in b sit just after the a-frame aligned before them.
    """
    ka = [_key(e, client) for _, e in xa]
    kb = [_key(e, client) for _, e in xb]
    out: list[tuple[float, DiffRow]] = []
    last = -1.0

    def row(
        kind: str,
        x: tuple[int, TraceEvent] | None,
        y: tuple[int, TraceEvent] | None,
        changes: list[tuple[str, Any, Any]] | None = None,
    ) -> None:
        nonlocal last
        if x is not None:
            last = float(x[0])
        else:
            last += 0.001
        r = DiffRow(
            kind, "", x[1] if x else None, y[1] if y else None, changes=changes or [], client=client
        )
        out.append((last, r))

    for tag, i1, i2, j1, j2 in opcodes(ka, kb):
        if tag == "equal":
            for x, y in zip(xa[i1:i2], xb[j1:j2], strict=True):
                ch = field_changes(normalized(x[1], dyn_a), normalized(y[1], dyn_b))
                row(CHANGED if ch else SAME, x, y, ch)
            continue
        if tag == "replace":
            # same place, different performative: show them side by side
            k = min(i2 - i1, j2 - j1)
            for x, y in zip(xa[i1 : i1 + k], xb[j1 : j1 + k], strict=True):
                row(REPLACED, x, y)
            i1, j1 = i1 + k, j1 + k
        for x in xa[i1:i2]:
            row(ONLY_A, x, None)
        for y in xb[j1:j2]:
            row(ONLY_B, None, y)
    return out


def _short(e: TraceEvent | None, client: str | None, width: int) -> str:
    if e is None:
        return ""
    arrow = "->" if e.src == client else "<-"
    text = f"{arrow} {e.name}" if e.kind == FRAME else f"{arrow} header {e.name}"
    if e.kind == FRAME:
        ignored = IGNORED_FIELDS.get(e.name, frozenset())
        shown = {k: v for k, v in e.fields.items() if k not in ignored}
        fields = render_fields(TraceEvent(e.t, e.kind, e.name, fields=shown))
        if fields:
            text += " " + fields
    return text if len(text) <= width else text[: width - 3] + "..."


_MARK = {SAME: "=", CHANGED: "~", REPLACED: "!", ONLY_A: "<", ONLY_B: ">"}


def render_diff(
    rows: Sequence[DiffRow],
    a_name: str = "a",
    b_name: str = "b",
    *,
    show_same: bool = False,
    width: int = 56,
) -> str:
    """Side-by-side text: one line per aligned pair, changed fields underneath.

    Marks: ``=`` same, ``~`` same performative with different fields, ``!``
    different performatives at the same place, ``<``/``>`` only in a/b.
    Unchanged frames are counted rather than shown unless ``show_same``.
    """
    total = len(rows)
    differing = [r for r in rows if r.kind != SAME]
    if not differing:
        return f"no differences in {total} frames"
    lines: list[str] = []
    current = None
    hidden = 0
    run: tuple[Any, ...] | None = None  # what the previous shown row looked like
    repeats = 0

    def flush() -> None:
        nonlocal hidden, repeats
        if repeats:
            lines.append(f"   ... {repeats} more like the row above")
            repeats = 0
        if hidden:
            lines.append(f"   ({hidden} identical frame{'s' if hidden > 1 else ''})")
            hidden = 0

    for r in rows:
        if r.group != current:
            flush()
            run = None
            current = r.group
            ca = r.conn_a or "(none)"
            cb = r.conn_b or "(none)"
            lines.append(f"connection {r.group}: {a_name} {ca}, {b_name} {cb}")
            lines.append(f"   {a_name:<{width}} | {b_name}")
        if r.kind == SAME and not show_same:
            if repeats:
                flush()
            hidden += 1
            run = None
            continue
        # a run of rows that differ the same way (16 transfers with other ids) shows once
        shape = (r.kind, _shape(r.a), _shape(r.b), tuple(c[0] for c in r.changes))
        if shape == run and r.kind != SAME:
            repeats += 1
            continue
        flush()
        run = shape
        left = _short(r.a, r.client, width)
        right = _short(r.b, r.client, width)
        lines.append(f" {_MARK[r.kind]} {left:<{width}} | {right}".rstrip())
        for path, va, vb in r.changes:
            lines.append(f"       {path}: {_val(va)} | {_val(vb)}")
    flush()
    counts = {k: sum(1 for r in rows if r.kind == k) for k in _MARK}
    lines.append(
        f"{total} frames compared: {counts[SAME]} same, {counts[CHANGED]} with different "
        f"fields, {counts[REPLACED]} different performatives, {counts[ONLY_A]} only in "
        f"{a_name}, {counts[ONLY_B]} only in {b_name}"
    )
    return "\n".join(lines)


def _shape(e: TraceEvent | None) -> tuple[str | None, str | None]:
    return (None, None) if e is None else (e.src, e.name)


def _val(v: Any) -> str:
    return "(absent)" if v is None else repr(v) if isinstance(v, str) else str(v)
