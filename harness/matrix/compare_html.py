"""``interop compare OLD NEW --format html``: what changed between two runs, as one page.

A maintainer reads it next to the two runs' own reports: regressions first
(the cells that gate CI), each with its old and new verdict as the matrix
colours them and the new reason; then fixes, other changes, new and removed
cells, and the brokers and peers whose identity changed. Self-contained
like the other pages: inline style, no scripts, nothing from the network.
"""

from __future__ import annotations

from .compare import BROKER, KINDS, PEER, REGRESSION, Change, summary
from .html_base import chip, esc, page

#: section titles, in the order a reader needs them (regressions gate CI)
_TITLES = {
    REGRESSION: "Regressions",
    "fixed": "Fixed",
    "changed": "Other verdict changes",
    "new": "New cells",
    "removed": "Removed cells",
    "reason": "Same verdict, new reason",
    BROKER: "Brokers",
    PEER: "Peers",
}


def _verdict(v: str | None) -> str:
    return chip(v) if v else '<span class="none">(absent)</span>'


def _row(c: Change) -> str:
    if c.kind in (BROKER, PEER):
        old, new = esc(c.old or "(absent)"), esc(c.new or "(absent)")
    else:
        old, new = _verdict(c.old), _verdict(c.new)
    reason = esc(c.new_reason or c.old_reason)
    return f'<tr><th class="row">{esc(c.id)}</th><td>{old}</td><td>{new}</td><td class="reason">{reason}</td></tr>'


def render_compare_html(changes: list[Change], old_name: str = "old", new_name: str = "new") -> str:
    """The page: a summary line, then one table per kind of change that occurred."""
    body = [
        "<h1>Interop compare</h1>",
        f'<p class="summary">{esc(summary(changes))}</p>',
        f"<p>{esc(old_name)} &#8594; {esc(new_name)}</p>",
    ]
    for kind in sorted(_TITLES, key=lambda k: (k != REGRESSION, KINDS.index(k))):
        rows = [c for c in changes if c.kind == kind]
        if not rows:
            continue
        body.append(f'<h2 id="{esc(kind)}">{esc(_TITLES[kind])} ({len(rows)})</h2>')
        body.append('<table class="details">')
        body.append("<tr><th>cell</th><th>before</th><th>after</th><th>reason</th></tr>")
        body.extend(_row(c) for c in rows)
        body.append("</table>")
    if not changes:
        body.append("<p>No cell changed its verdict.</p>")
    return page(f"compare: {summary(changes)}", body)
