"""The audit of checks: every pattern step and invariant cites its basis, and a broker is
held only to the specification.

``lint`` is the suite's own lint of patterns (a test runs it on every
scenario and on the invariant table); ``checks_table`` renders the same
records as the Markdown table in ``docs/checks.md`` (``scripts/checks_table.py``
writes it, a test keeps it current). One row per step and invariant: what
it expects, the section of AMQP 1.0 or the tutorial behaviour it rests on,
and the side it holds to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from harness.trace.basis import BROKER, CONTEXT, SECTIONS, SPEC, Basis
from harness.trace.model import CONN, HARNESS
from harness.trace.steps import AnyOrder, Either, Forbid, Never, Pattern, Step

__all__ = ["Row", "checks_table", "lint", "lint_rows", "pattern_rows", "scenario_rows"]


@dataclass(frozen=True)
class Row:
    """One audited item: where it is, what it expects, its basis and the step itself."""

    where: str  # "hello-world / hello-handshake" or "invariant credit"
    number: str  # "3", "2b.1", "" for an outcome or an invariant
    expects: str
    basis: Basis | None
    step: Step | None = None  # for the consistency checks of the lint


def _step_rows(where: str, number: str, s: Step | Never | AnyOrder) -> Iterator[Row]:
    if isinstance(s, AnyOrder):
        for k, member in enumerate(s.steps):
            text = f"(any order) {member.describe()}"
            yield Row(where, f"{number}.{k + 1}", text, member.basis, member)
    elif isinstance(s, Never):
        yield Row(where, number, s.describe(), s.basis, s.step)
    else:
        yield Row(where, number, s.describe(), s.basis, s)


def pattern_rows(where: str, pattern: Pattern | Forbid) -> Iterator[Row]:
    """The rows of one pattern: a row per step, any-order member and alternative."""
    if isinstance(pattern, Forbid):
        yield Row(where, "1", f"never {pattern.step.describe()}", pattern.basis, pattern.step)
        return
    for i, s in enumerate(pattern.steps):
        if isinstance(s, Either):
            for a, alt in enumerate(s.alternatives):
                letter = chr(ord("a") + a)
                for j, member in enumerate(alt):
                    number = f"{i + 1}{letter}" + (f".{j + 1}" if len(alt) > 1 else "")
                    prefix = "(either) " if a == 0 and j == 0 else "(or) " if j == 0 else ""
                    for row in _step_rows(where, number, member):
                        yield Row(row.where, row.number, prefix + row.expects, row.basis, row.step)
        else:
            yield from _step_rows(where, str(i + 1), s)


def scenario_rows(scenario: Any) -> Iterator[tuple[str, Pattern | Forbid | None, list[Row]]]:
    """Per check of a scenario: (rule, its pattern or None for an outcome, its rows)."""
    for check in scenario.checks:
        rule = getattr(check, "rule", getattr(check, "__name__", "?"))
        where = f"{scenario.name} / {rule}"
        patterns = getattr(check, "patterns", None)
        if patterns:
            for p in patterns:
                yield rule, p, list(pattern_rows(where, p))
        else:
            what = getattr(check, "summary", "") or rule
            yield rule, None, [Row(where, "", f"outcome: {what}", getattr(check, "basis", None))]


def invariant_rows(rules: Any) -> Iterator[Row]:
    for inv in rules.values():
        yield Row(f"invariant {inv.id}", "", inv.summary, inv.basis)


def lint_rows(rows: Iterable[Row]) -> list[str]:
    """What is wrong with the rows' citations (empty: all is well)."""
    problems = []
    for r in rows:
        at = f"{r.where} step {r.number}" if r.number else r.where
        b = r.basis
        if b is None:
            problems.append(f"{at}: no citation (spec section or tutorial behaviour): {r.expects}")
            continue
        if b.kind == SPEC and b.ref not in SECTIONS:
            problems.append(f"{at}: cites unknown section {b.ref}")
        if b.kind != SPEC and b.side == BROKER:
            problems.append(f"{at}: holds the broker to {b.cite()}; a broker step needs the spec")
        if b.kind != SPEC and b.side is None and b.kind != CONTEXT:
            problems.append(f"{at}: {b.cite()} names no side (it could hold a broker to it)")
        problems += _consistency(at, r)
    return problems


def _consistency(at: str, r: Row) -> list[str]:
    """A step sent by X holds X; a context step holds nobody and is the harness's own."""
    s, b = r.step, r.basis
    if s is None or b is None:
        return []
    if s.kind in (CONN, HARNESS):
        return [] if b.kind == CONTEXT else [f"{at}: a harness event cited as {b.cite()}"]
    if b.kind == CONTEXT:
        return [f"{at}: only harness events are context: {r.expects}"]
    src, dst = s.attrs.get("src"), s.attrs.get("dst")
    if isinstance(src, str) and b.side != src:
        return [f"{at}: sent by {src} but holds {b.side} to it: {r.expects}"]
    if src is None and isinstance(dst, str) and b.side == dst:
        return [f"{at}: received by {dst} but holds {dst} to it: {r.expects}"]
    return []


def lint(scenarios: Sequence[Any], rules: Any = None) -> list[str]:
    """The lint of every scenario's checks and of the invariant table."""
    if rules is None:
        from harness.trace.invariants import RULES as rules
    rows: list[Row] = list(invariant_rows(rules))
    for sc in scenarios:
        for _rule, _p, found in scenario_rows(sc):
            rows += found
    return lint_rows(rows)


def _holds(b: Basis | None) -> str:
    if b is None:
        return "?"
    if b.kind == CONTEXT:
        return "nobody (the harness's fault)"
    if b.side is None:
        return "whoever sent the frame"
    if b.side == "peer":
        return "reference peers only"
    return "broker" if b.side == BROKER else f"peer ({b.side})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _cite(b: Basis | None) -> str:
    if b is None:
        return "**none**"
    return f"AMQP 1.0 {b.cite()}" if b.kind == SPEC else b.cite()


def checks_table(scenarios: Sequence[Any], rules: Any = None) -> str:
    """``docs/checks.md``: every invariant and every scenario step with its basis."""
    if rules is None:
        from harness.trace.invariants import RULES as rules
    out = [
        "# Checks and what they rest on",
        "",
        "Generated by `python3 scripts/checks_table.py` from the scenarios and the invariant",
        "table; `tests/trace/test_audit.py` fails when this file is out of date. A check that",
        "holds the broker rests on a section of the OASIS AMQP 1.0 specification; one that",
        "holds a reference peer may rest on the Qpid Proton tutorial's behaviour. A failing",
        "cell's reason quotes the basis and the side: `broke 2.6.7 flow control (sender (js)): ...`.",
        "",
        "## Invariants (every wire trace)",
        "",
        "| rule | checks | basis | holds | default |",
        "|---|---|---|---|---|",
    ]
    for inv in rules.values():
        out.append(
            f"| `{inv.id}` | {_cell(inv.summary)} | {_cite(inv.basis)} | {_holds(inv.basis)} "
            f"| {'yes' if inv.default else 'when a scenario asks'} |"
        )
    for sc in scenarios:
        out += ["", f"## {sc.name}", "", f"{_cell(sc.description)}", ""]
        out += ["| check | step | expects | basis | holds |", "|---|---|---|---|---|"]
        for rule, p, rows in scenario_rows(sc):
            title = f'`{rule}` "{p.description}"' if p is not None else f"`{rule}`"
            for k, r in enumerate(rows):
                first = title if k == 0 else ""
                out.append(
                    f"| {_cell(first)} | {r.number} | `{_cell(r.expects)}` | {_cite(r.basis)} "
                    f"| {_holds(r.basis)} |"
                )
    return "\n".join(out) + "\n"
