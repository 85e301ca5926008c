"""The shape every report shares, and :func:`render`, the one entry point.

A report is one table per broker: rows are a scenario with its fault plan,
columns are peer pairs, a cell is a verdict mark. This module computes that
layout once (which tables, rows and columns, in which order) so the text,
Markdown, HTML and JUnit renderers only differ in how they draw it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .results import (
    ERROR,
    FAIL,
    NO_FAULT,
    PASS,
    SKIPPED,
    UNSUPPORTED,
    VERDICTS,
    XFAIL,
    XPASS,
    CellResult,
    RunResult,
    counts,
)

FORMATS: tuple[str, ...] = ("text", "markdown", "html", "junit")

#: short marks for table cells (text and Markdown); upper case = needs attention
MARKS: dict[str, str] = {
    PASS: "pass",
    FAIL: "FAIL",
    XFAIL: "xfail",
    XPASS: "XPASS",
    UNSUPPORTED: "unsup",
    SKIPPED: "skip",
    ERROR: "ERROR",
}
NOT_RUN = "-"
LEGEND = (
    "marks: pass; FAIL; ERROR = harness error (traceback in the cell's error.txt);"
    " xfail = known failure; XPASS = known failure did not happen;"
    " unsup = unsupported; skip = skipped; - = not run"
)

#: the order the list of non-passing cells uses: what needs action first
ATTENTION_ORDER: tuple[str, ...] = (FAIL, ERROR, XPASS, XFAIL, UNSUPPORTED, SKIPPED)

ROW_HEADER = "scenario / fault"


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: object) -> str:
    """Text with the characters XML 1.0 forbids (control bytes from a peer's output) removed.

    HTML and JUnit output must stay well-formed whatever a reason contains.
    """
    return _NOT_XML.sub("", str(text))


def row_label(scenario: str, fault: str) -> str:
    """``at-least-once`` or ``at-least-once / cut3``."""
    label = scenario if not fault or fault == NO_FAULT else f"{scenario} / {fault}"
    return " ".join(label.split())


def column_of(cell: CellResult) -> str:
    """The matrix column of a cell: its pair, or ``python->python`` for a one-role scenario.

    One-role scenarios (hello-world) sit on the diagonal, the same-implementation
    pair, so every scenario shares one set of columns.
    """
    names = list(cell.roles.values())
    if len(names) == 1:
        return f"{names[0]}->{names[0]}"
    return "->".join(names) if names else "?"


@dataclass
class Table:
    """One broker's matrix. ``broker`` is the provider name the cells use ("" for brokerless)."""

    broker: str
    product: str
    version: str
    rows: list[tuple[str, str]]
    columns: list[str]
    cells: dict[tuple[tuple[str, str], str], CellResult] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """``rabbitmq: RabbitMQ 3.10.8``; the brokerless table is "no broker (peer to peer)"."""
        if not self.broker:
            return "no broker (peer to peer)"
        ident = " ".join(p for p in (self.product, self.version) if p)
        return f"{self.broker}: {ident}" if ident else f"{self.broker}: identity unknown"

    def cell(self, row: tuple[str, str], column: str) -> CellResult | None:
        return self.cells.get((row, column))


def peer_order(run: RunResult) -> list[str]:
    """Peers as the run lists them, then any only the cells mention, in order of appearance."""
    order = [str(p.get("name")) for p in run.peers]
    for c in run.cells:
        for name in c.roles.values():
            if name not in order:
                order.append(name)
    return order


def build_tables(run: RunResult) -> list[Table]:
    """The layout of a run: one table per broker, rows and columns in a stable order.

    Brokers and peers keep the run's order; rows keep the order in which
    their scenario/fault first appears; columns are every pair used anywhere
    in the run (so all tables line up), ordered by the peers' positions.
    """
    peers = peer_order(run)
    index = {p: i for i, p in enumerate(peers)}

    def col_key(col: str) -> tuple[int, ...]:
        return tuple(index.get(p, len(peers)) for p in col.split("->"))

    columns = sorted({column_of(c) for c in run.cells}, key=col_key)
    row_order: dict[tuple[str, str], int] = {}
    for c in run.cells:
        row_order.setdefault((c.scenario, c.fault or NO_FAULT), len(row_order))

    brokers = [str(b.get("name")) for b in run.brokers]
    for c in run.cells:
        if c.broker not in brokers:
            brokers.append(c.broker)

    tables = []
    for name in brokers:
        mine = [c for c in run.cells if c.broker == name]
        if not mine:
            continue
        info = run.broker(name)
        rows = sorted({(c.scenario, c.fault or NO_FAULT) for c in mine}, key=row_order.__getitem__)
        t = Table(
            broker=name,
            product=str(info.get("product") or ""),
            version=str(info.get("version") or ""),
            rows=rows,
            columns=columns,
        )
        for c in mine:
            t.cells[((c.scenario, c.fault or NO_FAULT), column_of(c))] = c
        tables.append(t)
    return tables


def attention_cells(run: RunResult) -> list[CellResult]:
    """Every cell that did not pass, the ones needing action first, else in run order."""
    rank = {v: i for i, v in enumerate(ATTENTION_ORDER)}
    bad = [c for c in run.cells if c.verdict != PASS]
    return sorted(bad, key=lambda c: rank.get(c.verdict, len(rank)))


def summary_line(cells: Iterable[CellResult]) -> str:
    """``42 cells: 40 pass, 1 xfail, 1 unsupported, 0 fail``.

    ``pass`` and ``fail`` are always shown (a zero fail count is the news a
    reader looks for); the other verdicts only when they occurred.
    """
    cells = list(cells)
    n = counts(cells)
    parts = [f"{n[v]} {v}" for v in VERDICTS if n[v] or v in (PASS, FAIL)]
    noun = "cell" if len(cells) == 1 else "cells"
    return f"{len(cells)} {noun}: " + ", ".join(parts)


def peers_line(run: RunResult) -> str:
    """``python 0.40.0, cpp 0.37.0, js 3.0.3``: which builds were compared."""
    return ", ".join(
        " ".join(x for x in (str(p.get("name")), str(p.get("version") or "")) if x)
        for p in run.peers
    )


def format_figures(figures: dict[str, Any]) -> str:
    """``messages=1000 duplicates=3``: figures on one line, floats shortened."""
    out = []
    for k, v in figures.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        out.append(f"{k}={v}")
    return " ".join(out)


def render(run: RunResult, fmt: str, *, strict: bool = False, width: int = 100) -> str:
    """Render a run as ``text``, ``markdown``, ``html`` or ``junit``.

    ``strict`` makes JUnit report an xpass as a failure (as ``--strict``
    makes the exit status); ``width`` is the terminal width the text table
    must fit.
    """
    if fmt == "text":
        from .report_text import render_text

        return render_text(run, width=width)
    if fmt == "markdown":
        from .report_text import render_markdown

        return render_markdown(run)
    if fmt == "html":
        from .report_html import render_html

        return render_html(run)
    if fmt == "junit":
        from .report_junit import render_junit

        return render_junit(run, strict=strict)
    raise ValueError(f"unknown report format '{fmt}' (expected {', '.join(FORMATS)})")
