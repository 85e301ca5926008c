"""``report.html``: the run on one self-contained page.

One file, no scripts, no external assets, so it can be archived as a CI
artifact next to ``results.json`` and opened from disk: a header with the
totals, the run time, the exact command and who took part (brokers' product
and version, peers' versions); one matrix per broker whose cells carry the
verdict's colour, the reason as their tooltip and a link to the cell's page
(``<cell folder>/index.html``, see :mod:`harness.matrix.cell_page`); the
cells that did not pass with their reasons and rerun commands; and the
slowest cells as a bar chart. The output is well-formed XML as well as HTML.
"""

from __future__ import annotations

from pathlib import Path

from .html_base import COLOURS, chip, esc, facts_table, href, page
from .report import (
    MARKS,
    NOT_RUN,
    ROW_HEADER,
    Table,
    attention_cells,
    build_tables,
    format_figures,
    row_label,
    summary_line,
)
from .results import VERDICTS, CellResult, RunResult, counts
from .sweep import run_changes, sweep_title

#: bars in the chart of the slowest cells
SLOWEST = 15


class _Links:
    """Where a cell's page is, seen from the report; None when its folder is missing."""

    def __init__(self, base: str = "", folders: Path | None = None) -> None:
        self.base = base
        self.folders = folders

    def page(self, c: CellResult) -> str | None:
        if not c.artifacts:
            return None
        if self.folders is not None and not (self.folders / c.artifacts).is_dir():
            return None
        return href(f"{self.base}{c.artifacts.rstrip('/')}/index.html")

    def missing(self, c: CellResult) -> bool:
        return bool(c.artifacts) and self.page(c) is None


def _tooltip(c: CellResult, links: _Links) -> str:
    text = f"{c.id}: {c.verdict}"
    if c.reason:
        text += f": {c.reason}"
    if c.rule:
        text += f" [rule {c.rule}]"
    if links.missing(c):
        text += f" (artifact folder {c.artifacts} is missing)"
    return text


def _mark_cell(c: CellResult | None, links: _Links) -> str:
    if c is None:
        return f'<td class="none">{NOT_RUN}</td>'
    mark = esc(MARKS.get(c.verdict, c.verdict))
    link = links.page(c)
    inner = f'<a href="{link}">{mark}</a>' if link else mark
    return f'<td class="v-{esc(c.verdict)}" title="{esc(_tooltip(c, links))}">{inner}</td>'


def _table(t: Table, links: _Links) -> list[str]:
    out = [f"<h2>{esc(t.title)}</h2>", '<div class="scroll"><table class="matrix">', "<thead><tr>"]
    out.append(f'<th class="row">{esc(ROW_HEADER)}</th>')
    # a pair may break after its arrow, never inside a peer's name
    out.extend(f"<th>{esc(col).replace('-&gt;', '-&gt;<wbr/>')}</th>" for col in t.columns)
    out.append("</tr></thead>")
    out.append("<tbody>")
    for row in t.rows:
        cells = "".join(_mark_cell(t.cell(row, col), links) for col in t.columns)
        out.append(f'<tr><th class="row">{esc(row_label(*row))}</th>{cells}</tr>')
    out.append("</tbody></table></div>")
    return out


def _details(cells: list[CellResult], links: _Links) -> list[str]:
    out = [
        f"<h2>Not passing ({len(cells)})</h2>",
        '<table class="details"><thead><tr>',
        "<th>verdict</th><th>cell</th><th>reason</th><th>rerun</th>",
        "</tr></thead><tbody>",
    ]
    for c in cells:
        link = links.page(c)
        ident = f'<a href="{link}">{esc(c.id)}</a>' if link else esc(c.id)
        if links.missing(c):
            ident += f'<br/><small class="missing">no folder {esc(c.artifacts)}</small>'
        reason = esc(c.reason or "(no reason given)")
        if c.rule:
            reason += f" <small>[rule <code>{esc(c.rule)}</code>]</small>"
        if c.figures:
            reason += f"<br/><small>{esc(format_figures(c.figures))}</small>"
        rerun = f"<code>{esc(c.rerun)}</code>" if c.rerun else ""
        out.append(
            f'<tr><td class="v-{esc(c.verdict)}">{esc(MARKS.get(c.verdict, c.verdict))}</td>'
            f"<td>{ident}</td><td>{reason}</td><td>{rerun}</td></tr>"
        )
    out.append("</tbody></table>")
    return out


def _changes(run: RunResult) -> list[str]:
    """Per version sweep: every cell whose verdict or reason changed, with both reasons."""
    out: list[str] = []
    for group, rows in run_changes(run):
        out.append(f'<h2 id="changed">{esc(sweep_title(group, rows))}</h2>')
        if not rows:
            continue
        out += [
            '<table class="details changes"><thead><tr>',
            "<th>cell</th><th>before</th><th>after</th><th>reason before</th><th>reason after</th>",
            "</tr></thead><tbody>",
        ]
        for ch in rows:
            cells = [f"<td>{esc(ch.row)}</td>"]
            for label, verdict in ((ch.before, ch.before_verdict), (ch.after, ch.after_verdict)):
                mark = esc(MARKS.get(verdict, verdict))
                cells.append(f'<td class="v-{esc(verdict)}">{esc(label)} {mark}</td>')
            cells += [f"<td>{esc(r or '(none)')}</td>" for r in (ch.before_reason, ch.after_reason)]
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
    return out


def _header(run: RunResult) -> list[str]:
    """Totals, time, command, and who took part."""
    n = counts(run.cells)
    chips = "".join(chip(v, f"{n[v]} {v}") for v in VERDICTS if n[v] or v in ("pass", "fail"))
    brokers = "<br/>".join(
        f"<b>{esc(b.get('name'))}</b>: "
        + esc(" ".join(str(b.get(k) or "") for k in ("product", "version")).strip() or "unknown")
        for b in run.brokers
    )
    peers = "<br/>".join(
        f"<b>{esc(p.get('name'))}</b>: {esc(p.get('version') or 'version unknown')}"
        for p in run.peers
    )
    out = ["<h1>Interop matrix</h1>", f'<p class="summary">{esc(summary_line(run.cells))}</p>']
    out.append(f'<p class="totals">{chips}</p>')
    out += facts_table(
        [
            ("started", esc(run.started_at or "unknown")),
            ("run time", esc(f"{run.duration_s:.1f} s")),
            ("command", f"<code>{esc(run.command)}</code>" if run.command else ""),
            ("brokers", brokers),
            ("peers", peers),
        ]
    )
    return out


#: what each mark means, for the legend under the matrices
MEANINGS = {
    "pass": "",
    "fail": "",
    "error": "harness error (traceback in the cell's error.txt)",
    "xfail": "known failure",
    "xpass": "known failure did not happen",
    "unsupported": "unsupported by the broker",
    "skipped": "skipped (a component is missing)",
}


def _legend() -> list[str]:
    chips = "".join(
        chip(v, f"{MARKS[v]} {MEANINGS.get(v, '')}".strip()) for v in COLOURS if v in MARKS
    )
    none = f'<span class="chip none">{NOT_RUN} not run</span>'
    return [
        f'<p class="legend">{chips}{none}</p>',
        "<p><small>Hover a cell for its reason; click it for its page: the sequence diagram, "
        "the failing step, the raw files.</small></p>",
    ]


def durations_chart(cells: list[CellResult], links: _Links | None = None) -> list[str]:
    """The slowest cells as horizontal bars in their verdict's colour (inline SVG)."""
    slow = sorted(cells, key=lambda c: -c.duration_s)[:SLOWEST]
    if not slow or slow[0].duration_s <= 0:
        return []
    label_w, bar_w, row = 430, 360, 18
    top = max(c.duration_s for c in slow)
    width, height = label_w + bar_w + 70, row * len(slow) + 8
    out = [
        f"<h2>Slowest cells ({len(slow)} of {len(cells)})</h2>",
        f'<svg class="durations" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="12">',
    ]
    for i, c in enumerate(slow):
        y = 4 + i * row
        w = max(1.0, bar_w * c.duration_s / top)
        bg = COLOURS.get(c.verdict, ("#ccc", "#000"))[0]
        link = links.page(c) if links else None
        bar = (
            f"<g><title>{esc(f'{c.id}: {c.duration_s:.1f} s, {c.verdict}')}</title>"
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{esc(c.id)}</text>'
            f'<rect x="{label_w}" y="{y + 1}" width="{w:.1f}" height="{row - 4}" '
            f'fill="{bg}" stroke="#888" stroke-width="0.5"/>'
            f'<text x="{label_w + w + 5:.1f}" y="{y + 12}">{c.duration_s:.1f} s</text></g>'
        )
        out.append(f'<a href="{link}">{bar}</a>' if link else bar)
    out.append("</svg>")
    return out


def render_html(run: RunResult, *, base: str = "", folders: Path | None = None) -> str:
    """The whole page as a string.

    ``base`` is prefixed to every cell link (the results folder as seen from
    where the page is written); ``folders`` is that folder on disk, so a cell
    whose artifact folder is missing gets no broken link.
    """
    links = _Links(base, folders)
    body = _header(run)
    for t in build_tables(run):
        body.extend(_table(t, links))
    body += _legend()
    body += _changes(run)
    bad = attention_cells(run)
    if bad:
        body.extend(_details(bad, links))
    body += durations_chart(run.cells, links)
    return page(f"Interop matrix: {summary_line(run.cells)}", body)
