"""A self-contained HTML page of the matrix.

One file, no scripts, no external assets, so it can be archived as a CI
artifact next to ``results.json`` and opened from disk: cell colours carry
the verdict, the reason is the tooltip, and each cell links to its artifact
folder (a path relative to the results folder, where the page is written).
The output is well-formed XML as well as HTML, so tests and tools can parse it.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from .report import (
    LEGEND,
    MARKS,
    NOT_RUN,
    ROW_HEADER,
    Table,
    attention_cells,
    build_tables,
    format_figures,
    peers_line,
    row_label,
    summary_line,
    xml_text,
)
from .results import CellResult, RunResult

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: center; }
th.row { text-align: left; font-weight: normal; white-space: nowrap; }
td a { color: inherit; text-decoration: none; display: block; }
.v-pass { background: #c8e6c9; }
.v-fail { background: #ef9a9a; font-weight: bold; }
.v-xfail { background: #fff3c4; }
.v-xpass { background: #ffcc80; font-weight: bold; }
.v-unsupported { background: #e0e0e0; }
.v-skipped { background: #f5f5f5; color: #777; }
.v-error { background: #b39ddb; font-weight: bold; }
.none { color: #aaa; }
table.details td { text-align: left; }
code { font-size: 0.9em; }
.summary { font-weight: bold; }
"""


def _e(text: object) -> str:
    """Escape for text and attribute values (quotes too), valid in HTML and XML."""
    return escape(xml_text(text), quote=True)


def _href(path: str) -> str:
    """A relative link to an artifact folder: percent-encoded (ids contain ``>``), then escaped."""
    if not path.endswith("/"):
        path += "/"
    return _e(quote(path, safe="/"))


def _tooltip(c: CellResult) -> str:
    text = f"{c.id}: {c.verdict}"
    if c.reason:
        text += f": {c.reason}"
    if c.rule:
        text += f" [rule {c.rule}]"
    return text


def _mark_cell(c: CellResult | None) -> str:
    if c is None:
        return f'<td class="none">{NOT_RUN}</td>'
    mark = _e(MARKS.get(c.verdict, c.verdict))
    inner = f'<a href="{_href(c.artifacts)}">{mark}</a>' if c.artifacts else mark
    return f'<td class="v-{_e(c.verdict)}" title="{_e(_tooltip(c))}">{inner}</td>'


def _table(t: Table) -> list[str]:
    out = [f"<h2>{_e(t.title)}</h2>", '<table class="matrix">', "<thead><tr>"]
    out.append(f'<th class="row">{_e(ROW_HEADER)}</th>')
    out.extend(f"<th>{_e(col)}</th>" for col in t.columns)
    out.append("</tr></thead>")
    out.append("<tbody>")
    for row in t.rows:
        cells = "".join(_mark_cell(t.cell(row, col)) for col in t.columns)
        out.append(f'<tr><th class="row">{_e(row_label(*row))}</th>{cells}</tr>')
    out.append("</tbody></table>")
    return out


def _details(cells: list[CellResult]) -> list[str]:
    out = [
        f"<h2>Not passing ({len(cells)})</h2>",
        '<table class="details"><thead><tr>',
        "<th>verdict</th><th>cell</th><th>reason</th><th>rerun</th>",
        "</tr></thead><tbody>",
    ]
    for c in cells:
        ident = f'<a href="{_href(c.artifacts)}">{_e(c.id)}</a>' if c.artifacts else _e(c.id)
        reason = _e(c.reason or "(no reason given)")
        if c.rule:
            reason += f" <small>[rule <code>{_e(c.rule)}</code>]</small>"
        if c.figures:
            reason += f"<br/><small>{_e(format_figures(c.figures))}</small>"
        rerun = f"<code>{_e(c.rerun)}</code>" if c.rerun else ""
        out.append(
            f'<tr><td class="v-{_e(c.verdict)}">{_e(MARKS.get(c.verdict, c.verdict))}</td>'
            f"<td>{ident}</td><td>{reason}</td><td>{rerun}</td></tr>"
        )
    out.append("</tbody></table>")
    return out


def render_html(run: RunResult) -> str:
    """The whole page as a string."""
    summary = summary_line(run.cells)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8"/>',
        f"<title>Interop matrix: {_e(summary)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<h1>Interop matrix</h1>",
        f'<p class="summary">{_e(summary)}</p>',
    ]
    facts = [f"Started {_e(run.started_at or 'unknown')}, {run.duration_s:.1f} s."]
    if run.command:
        facts.append(f"Command: <code>{_e(run.command)}</code>.")
    if run.peers:
        facts.append(f"Peers: {_e(peers_line(run))}.")
    out.append(f"<p>{' '.join(facts)}</p>")
    for t in build_tables(run):
        out.extend(_table(t))
    out.append(f"<p><small>{_e(LEGEND)}</small></p>")
    bad = attention_cells(run)
    if bad:
        out.extend(_details(bad))
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
