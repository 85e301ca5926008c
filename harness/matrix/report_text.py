"""Plain-text (terminal) and Markdown matrices.

The text report is what ``interop run`` prints at the end, so it must fit a
100-column terminal with nine pair columns: pair headers are abbreviated
(``py>js``) and long row labels shortened when the full names do not fit.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from .report import (
    LEGEND,
    MARKS,
    NOT_RUN,
    ROW_HEADER,
    Table,
    attention_cells,
    build_tables,
    format_figures,
    peer_order,
    peers_line,
    row_label,
    summary_line,
)
from .results import CellResult, RunResult
from .sweep import run_changes, sweep_title

#: well-known short names; other peers get a unique prefix
ABBREVIATIONS = {"python": "py", "javascript": "js", "golang": "go", "dotnet": "net"}
_MIN_COL = max(len(m) for m in MARKS.values())
_MIN_LABEL = 16
#: a reason in the changed-between-versions list is cut here (report.html has it whole)
_REASON_CHARS = 320


def abbreviations(peers: list[str]) -> dict[str, str]:
    """A short, unique name per peer: ``python`` -> ``py``, others a 3+ letter prefix."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for p in peers:
        candidates = [ABBREVIATIONS.get(p, ""), *(p[:n] for n in range(3, len(p)))]
        short = next((c for c in candidates if c and c not in used), p)
        out[p] = short
        used.add(short)
    return out


def _short_column(column: str, abbrev: dict[str, str]) -> str:
    return ">".join(abbrev.get(p, p) for p in column.split("->"))


def _fit(label: str, width: int) -> str:
    """Shorten from the middle: the fault plan at the end tells rows apart (``at-l~ / cut3``)."""
    if len(label) <= width:
        return label
    head = (width - 1) // 2
    tail = width - 1 - head
    return label[:head] + "~" + (label[-tail:] if tail else "")


@dataclass
class _Layout:
    """Column headers and widths shared by every table, so the tables line up."""

    headers: list[str]
    col_w: list[int]
    label_w: int
    sep: int


def _layout(tables: list[Table], abbrev: dict[str, str], width: int) -> _Layout:
    """Fit ``width``: full pair names, else abbreviated, else one-space gaps, else short labels."""
    columns = tables[0].columns if tables else []
    labels = [row_label(*r) for t in tables for r in t.rows]
    label_w = max([len(ROW_HEADER), *map(len, labels)])
    short = [_short_column(c, abbrev) for c in columns]
    tries = [(columns, 2), (short, 2), (short, 1)]
    for headers, sep in tries:
        col_w = [max(len(h), _MIN_COL) for h in headers]
        if label_w + sum(w + sep for w in col_w) <= width:
            return _Layout(headers, col_w, label_w, sep)
    label_w = max(width - sum(w + sep for w in col_w), _MIN_LABEL)
    return _Layout(headers, col_w, label_w, sep)


def _table_text(t: Table, lay: _Layout) -> list[str]:
    def line(first: str, items: list[str]) -> str:
        s = _fit(first, lay.label_w).ljust(lay.label_w)
        for item, w in zip(items, lay.col_w, strict=True):
            s += " " * lay.sep + item.ljust(w)
        return s.rstrip()

    out = [line(ROW_HEADER, lay.headers)]
    for row in t.rows:
        marks = []
        for col in t.columns:
            c = t.cell(row, col)
            marks.append(MARKS.get(c.verdict, c.verdict) if c else NOT_RUN)
        out.append(line(row_label(*row), marks))
    return out


def _attention_text(cells: list[CellResult], width: int) -> list[str]:
    out = []
    indent = " " * 8
    for c in cells:
        out.append(f"  {MARKS.get(c.verdict, c.verdict):<5} {c.id} ({c.duration_s:.1f} s)")
        reason = c.reason or "(no reason given)"
        if c.rule:
            reason += f" [rule {c.rule}]"
        out.extend(textwrap.wrap(reason, width, initial_indent=indent, subsequent_indent=indent))
        if c.figures:
            out.append(f"{indent}figures: {format_figures(c.figures)}")
        if c.artifacts:
            out.append(f"{indent}artifacts: {c.artifacts}")
        if c.rerun:
            out.append(f"{indent}rerun: {c.rerun}")
    return out


def _changes_text(run: RunResult, width: int) -> list[str]:
    """Per sweep: each changed cell, its two verdicts, and both reasons."""
    out: list[str] = []
    indent = " " * 8
    for group, rows in run_changes(run):
        out += ["", sweep_title(group, rows)]
        for ch in rows:
            was = MARKS.get(ch.before_verdict, ch.before_verdict)
            now = MARKS.get(ch.after_verdict, ch.after_verdict)
            out.append(f"  {ch.row}: {ch.before} {was} -> {ch.after} {now}")
            for label, reason, mark in (
                (ch.before, ch.before_reason, was),
                (ch.after, ch.after_reason, now),
            ):
                if len(reason) > _REASON_CHARS:  # the whole reason is in report.html
                    reason = reason[: _REASON_CHARS - 3] + "..."
                text = f"{label}: {reason or f'({mark}, no reason)'}"
                out += textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent)
    return out


def render_text(run: RunResult, *, width: int = 100) -> str:
    """The terminal report: header, one table per broker, legend, non-passing cells, summary."""
    out = []
    head = f"Interop matrix, {run.started_at or 'start unknown'}, {run.duration_s:.1f} s"
    out.append(head)
    if run.command:
        out.append(f"command: {run.command}")
    if run.peers:
        out.append(f"peers: {peers_line(run)}")
    tables = build_tables(run)
    lay = _layout(tables, abbreviations(peer_order(run)), width)
    for t in tables:
        out.append("")
        out.append(f"== {t.title} ==")
        out.extend(_table_text(t, lay))
    if tables:
        out.append("")
        out.extend(textwrap.wrap(LEGEND, width))
    out.extend(_changes_text(run, width))
    bad = attention_cells(run)
    if bad:
        out.append("")
        out.append(f"Not passing ({len(bad)}):")
        out.extend(_attention_text(bad, width))
    out.append("")
    out.append(summary_line(run.cells))
    return "\n".join(out) + "\n"


_MD_SPECIAL = set("\\`*_[]<|")


def md_escape(text: str) -> str:
    """Escape Markdown so a reason (``<lost> | *x*``) shows as written, also inside tables."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)


def md_code(text: str) -> str:
    """Inline code that survives backticks in the text (ids, commands)."""
    text = " ".join(text.split())
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _table_markdown(t: Table) -> list[str]:
    out = [
        "| " + " | ".join([md_escape(ROW_HEADER), *map(md_escape, t.columns)]) + " |",
        "|" + "---|" * (len(t.columns) + 1),
    ]
    for row in t.rows:
        marks = []
        for col in t.columns:
            c = t.cell(row, col)
            marks.append(MARKS.get(c.verdict, c.verdict) if c else NOT_RUN)
        out.append("| " + " | ".join([md_escape(row_label(*row)), *marks]) + " |")
    return out


def render_markdown(run: RunResult) -> str:
    """The same report as Markdown (for a CI summary or a pull request comment)."""
    out = ["# Interop matrix", ""]
    facts = [f"Started {md_escape(run.started_at or 'unknown')}, {run.duration_s:.1f} s."]
    if run.command:
        facts.append(f"Command: {md_code(run.command)}.")
    if run.peers:
        facts.append(f"Peers: {md_escape(peers_line(run))}.")
    out.append(" ".join(facts))
    for t in build_tables(run):
        out += ["", f"## {md_escape(t.title)}", ""]
        out.extend(_table_markdown(t))
    out += ["", md_escape(LEGEND)]
    for group, rows in run_changes(run):
        out += ["", f"## {md_escape(sweep_title(group, rows))}", ""]
        for ch in rows:
            out.append(
                f"- {md_code(ch.row)}: {ch.before} **{ch.before_verdict}** -> {ch.after} "
                f"**{ch.after_verdict}**"
            )
            out.append(f"  - {md_escape(ch.before)}: {md_escape(ch.before_reason or '(none)')}")
            out.append(f"  - {md_escape(ch.after)}: {md_escape(ch.after_reason or '(none)')}")
    bad = attention_cells(run)
    if bad:
        out += ["", f"## Not passing ({len(bad)})", ""]
        for c in bad:
            reason = md_escape(" ".join((c.reason or "(no reason given)").split()))
            if c.rule:
                reason += f" (rule {md_code(c.rule)})"
            out.append(f"- **{MARKS.get(c.verdict, c.verdict)}** {md_code(c.id)}: {reason}")
            if c.figures:
                out.append(f"  - figures: {md_escape(format_figures(c.figures))}")
            if c.artifacts:
                out.append(f"  - artifacts: {md_code(c.artifacts)}")
            if c.rerun:
                out.append(f"  - rerun: {md_code(c.rerun)}")
    out += ["", f"**{summary_line(run.cells)}**"]
    return "\n".join(out) + "\n"
