"""What changed between two runs: the regression check of ``interop compare OLD NEW``.

Cells are matched by id (the same scenario, fault, pair and broker name), so
a peer or broker upgrade between the runs shows up as verdict changes of the
same cells; the environment changes that explain them (broker product or
version, peer versions) are listed first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .results import FAIL, PASS, XFAIL, XPASS, CellResult, RunResult
from .scope import selects

# kinds of change, in the order a report lists them
BROKER = "broker"  # a broker's identity changed, appeared or went away
PEER = "peer"  # a peer's version changed, appeared or went away
REGRESSION = "regression"  # was working, now fails (fail or known failure)
FIXED = "fixed"  # was failing, now works
CHANGED = "changed"  # any other verdict change (pass -> skipped, xfail -> fail, ...)
NEW = "new"  # cell only in the new run
REMOVED = "removed"  # cell only in the old run, though the new run selected it
REASON = "reason"  # same non-pass verdict, different reason
UNSELECTED = "unselected"  # cell only in the old run, outside the new run's selection

KINDS: tuple[str, ...] = (
    BROKER,
    PEER,
    REGRESSION,
    FIXED,
    CHANGED,
    NEW,
    REMOVED,
    REASON,
    UNSELECTED,
)
#: kinds counted in the summary line but not listed one by one (a narrower
#: selection, ``--pairs cover`` after ``all``, would list hundreds of cells)
QUIET: tuple[str, ...] = (UNSELECTED,)

_WORKING = {PASS, XPASS}
_FAILING = {FAIL, XFAIL}


@dataclass(frozen=True)
class Change:
    """One difference. For cells ``id`` is the cell id; for brokers and peers their name."""

    kind: str
    id: str
    old: str | None = None
    new: str | None = None
    old_reason: str = ""
    new_reason: str = ""

    def describe(self) -> str:
        """One line: ``regression at-least-once-python->js-embedded: pass -> fail (reason)``."""
        if self.kind in (BROKER, PEER):
            text = f"{self.kind} {self.id}: {self.old or '(absent)'} -> {self.new or '(absent)'}"
            return f"{text} ({self.new_reason})" if self.new_reason else text
        if self.kind == NEW:
            text = f"new {self.id}: {self.new}"
            return f"{text} ({self.new_reason})" if self.new_reason else text
        if self.kind == REMOVED:
            return f"removed {self.id}: was {self.old}"
        if self.kind == UNSELECTED:
            return f"unselected {self.id}: was {self.old} (outside the new run's selection)"
        if self.kind == REASON:
            return f"reason {self.id} ({self.new}): {self.old_reason!r} -> {self.new_reason!r}"
        text = f"{self.kind} {self.id}: {self.old} -> {self.new}"
        return f"{text} ({self.new_reason})" if self.new_reason else text


def classify(old: str, new: str) -> str | None:
    """The kind of a verdict change of one cell, None when the verdict is the same."""
    if old == new:
        return None
    if new == FAIL:
        # any way into an unexpected failure gates CI, even from xfail (the entry stopped matching)
        return REGRESSION
    if new == XFAIL and old in _WORKING:
        # the cell broke even though a registry entry hides it
        return REGRESSION
    if new in _WORKING and old in _FAILING:
        return FIXED
    return CHANGED


def profile_text(profile: Any) -> str:
    """``[auto_delete_queues=False fsync=False journal=MAPPED routing=anycast]``, or ``""``."""
    if not isinstance(profile, dict) or not profile:
        return ""
    return "[" + " ".join(f"{k}={profile[k]}" for k in sorted(profile)) + "]"


def _identity(entry: dict[str, Any]) -> str:
    """Product, version and profile: what makes two runs' brokers the same broker."""
    words = [str(entry.get(k) or "") for k in ("product", "version")]
    words.append(profile_text(entry.get("profile")))
    return " ".join(w for w in words if w) or "?"


def _product(entry: dict[str, Any] | None) -> tuple[str, str]:
    return (str(entry.get("product") or ""), str(entry.get("version") or "")) if entry else ("", "")


def _environment(old: RunResult, new: RunResult) -> tuple[list[Change], set[str]]:
    """Broker and peer changes, and the brokers whose cells must not be compared.

    A broker whose product and version stayed but whose profile changed is
    another broker: its cells are left out, and its line says why.
    """
    out = []
    apart: set[str] = set()
    old_e = {str(b.get("name")): b for b in old.brokers}
    new_e = {str(b.get("name")): b for b in new.brokers}
    for name in [*old_e, *(n for n in new_e if n not in old_e)]:
        o, n = old_e.get(name), new_e.get(name)
        was, now = (_identity(o) if o else None), (_identity(n) if n else None)
        if was == now:
            continue
        why = ""
        if o and n and _product(o) == _product(n):
            apart.add(name)
            cells = sum(1 for c in new.cells if c.broker == name)
            why = f"different profiles: another broker, its {cells} cells are not compared"
        out.append(Change(BROKER, name, was, now, new_reason=why))
    old_p = {str(p.get("name")): str(p.get("version") or "?") for p in old.peers}
    new_p = {str(p.get("name")): str(p.get("version") or "?") for p in new.peers}
    for name in [*old_p, *(n for n in new_p if n not in old_p)]:
        if old_p.get(name) != new_p.get(name):
            out.append(Change(PEER, name, old_p.get(name), new_p.get(name)))
    return out, apart


def compare(old: RunResult, new: RunResult) -> list[Change]:
    """Every difference between two runs: environment first, then cells by kind, in run order."""
    changes, apart = _environment(old, new)
    old_cells: dict[str, CellResult] = {c.id: c for c in old.cells if c.broker not in apart}
    new_cells: dict[str, CellResult] = {c.id: c for c in new.cells if c.broker not in apart}
    cell_changes: list[Change] = []
    for cid, n in new_cells.items():
        o = old_cells.get(cid)
        if o is None:
            cell_changes.append(Change(NEW, cid, None, n.verdict, "", n.reason))
            continue
        kind = classify(o.verdict, n.verdict)
        if kind is not None:
            cell_changes.append(Change(kind, cid, o.verdict, n.verdict, o.reason, n.reason))
        elif n.verdict != PASS and o.reason != n.reason:
            cell_changes.append(Change(REASON, cid, o.verdict, n.verdict, o.reason, n.reason))
    for cid, o in old_cells.items():
        if cid not in new_cells:
            # gone only if the new run asked for it (another pair mode, fewer peers, a shard: not)
            kind = REMOVED if selects(new.selection, o) else UNSELECTED
            cell_changes.append(Change(kind, cid, o.verdict, None, o.reason, ""))
    rank = {k: i for i, k in enumerate(KINDS)}
    return changes + sorted(cell_changes, key=lambda c: rank[c.kind])


def regressions(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.kind == REGRESSION]


def compare_exit_code(changes: list[Change]) -> int:
    """1 when any cell regressed, else 0: what ``interop compare`` exits with."""
    return 1 if regressions(changes) else 0


def summary(changes: list[Change]) -> str:
    """``2 regression, 1 fixed, 3 new`` (only kinds that occurred), or ``no changes``."""
    n = {k: 0 for k in KINDS}
    for c in changes:
        n[c.kind] += 1
    parts = [f"{n[k]} {k}" for k in KINDS if n[k]]
    return ", ".join(parts) if parts else "no changes"


def render_changes(changes: list[Change], fmt: str = "text") -> str:
    """The comparison as ``text`` or ``markdown``: a summary line, then one line per change.

    Cells outside the new run's selection are only counted in the summary line.
    """
    if fmt not in ("text", "markdown"):
        raise ValueError(f"unknown compare format '{fmt}' (expected text, markdown)")
    head = f"compare: {summary(changes)}"
    changes = [c for c in changes if c.kind not in QUIET]
    if fmt == "text":
        return "\n".join([head, *(f"  {c.describe()}" for c in changes)]) + "\n"
    from .report_text import md_escape

    lines = [f"**{md_escape(head)}**", ""]
    lines.extend(f"- {md_escape(c.describe())}" for c in changes)
    return "\n".join(lines) + "\n"
