"""A cell's trace as a sequence diagram: standalone SVG, one row per event.

People read a handshake best as arrows between lifelines: who sent what to
whom and in which order. One lifeline per endpoint label (clients around the
broker), one arrow per frame (colour = connection, label = performative and
its key field, full decoded line on hover), peer events as notes on their
peer's lifeline, cuts as a red band. Rows have a fixed height, so a trace of a
few hundred frames is a tall image that scrolls vertically; ``fold=True``
draws long routine stretches as one row each (:mod:`harness.trace.fold`), and
``highlight`` puts a band behind chosen events (a failure and the steps it
matched), each with an ``id`` (``ev12``) a page can link to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from harness.trace.fold import Fold, Row, fold_rows
from harness.trace.model import CONN, FRAME, HARNESS, HEADER, PEER, TraceEvent
from harness.trace.render import render_event
from harness.trace.topology import client_of

__all__ = ["arrow_label", "render_svg"]

ROW = 20  # px per event
COL = 230  # px between lifelines
LEFT = 70  # time column
TOP = 74  # header (legend, lifeline names)
PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
_MAX_LABEL = 34
#: band colours behind highlighted events, by kind (see harness.trace.locate)
BANDS = {"failed": "#ffcdd2", "matched": "#e3f2fd"}


def _cut(text: str, n: int = _MAX_LABEL) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def arrow_label(e: TraceEvent) -> str:
    """Performative plus the one field that identifies it in the story."""
    f = e.fields
    name = e.name
    if e.kind == HEADER:
        return f"{name.upper()} header"
    if name == "attach":
        addrs = []
        for key in ("source", "target"):
            term = f.get(key)
            if isinstance(term, dict):
                if term.get("address"):
                    addrs.append(str(term["address"]))
                elif term.get("dynamic"):
                    addrs.append("<dynamic>")
        return f"attach {f.get('role', '?')} {'→'.join(addrs)}".rstrip()
    if name == "flow":
        if f.get("handle") is None:
            return "flow (session)"
        text = f"flow credit={f.get('link_credit')}"
        return text + " drain" if f.get("drain") else text
    if name == "transfer":
        text = "transfer" if f.get("delivery_id") is None else f"transfer #{f.get('delivery_id')}"
        msg = f.get("message")
        if isinstance(msg, dict) and msg.get("id") is not None:
            text += f" id={msg['id']}"
        if f.get("settled"):
            text += " (settled)"
        return text + " …" if f.get("more") else text
    if name == "disposition":
        first, last = f.get("first"), f.get("last")
        rng = f"{first}" if last in (None, first) else f"{first}..{last}"
        state = f.get("state")
        kind = state.get("type") if isinstance(state, dict) else ""
        return f"disposition {rng} {kind or ''}".rstrip()
    if name in ("detach", "end", "close"):
        err = f.get("error")
        cond = err.get("condition") if isinstance(err, dict) else None
        text = name if name != "detach" else f"detach h={f.get('handle')}"
        return f"{text} {cond}" if cond else text
    if name == "sasl_init":
        return f"sasl_init {f.get('mechanism') or ''}".rstrip()
    if name == "sasl_outcome":
        return f"sasl_outcome {f.get('code')}"
    return name


def _lanes(events: Sequence[TraceEvent]) -> list[str]:
    """Lifeline order: servers in the middle, clients around them in order of appearance."""
    clients: list[str] = []
    servers: list[str] = []
    conns: dict[str, None] = {}
    for e in events:
        if e.conn is not None and e.kind in (FRAME, HEADER, CONN):
            conns.setdefault(e.conn, None)
    for cid in conns:
        c, s = client_of(events, cid)
        if s is not None and s not in servers:
            servers.append(s)
        if c is not None and c not in clients:
            clients.append(c)
    clients = [c for c in clients if c not in servers]
    for e in events:  # peers without a tapped connection, unknown ends
        for label in (e.src, e.dst) if e.kind != HARNESS else ():
            if label is not None and label not in clients and label not in servers:
                clients.append(label)
    half = (len(clients) + 1) // 2
    return clients[:half] + servers + clients[half:] or ["?"]


def _text(x: float, y: float, s: str, cls: str, anchor: str = "middle", **attrs: Any) -> str:
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(str(v))}" for k, v in attrs.items())
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" class="{cls}" text-anchor="{anchor}"{extra}>'
        f"{escape(s)}</text>"
    )


@dataclass
class _Canvas:
    """Where things go: the events drawn, lifeline x positions, colour per connection."""

    events: list[TraceEvent]
    lanes: list[str]
    x_of: dict[str, int]
    conn_ids: dict[str, int]  # connection id -> colour number
    width: int
    height: int
    rows: int = 0

    def color(self, e: TraceEvent) -> str:
        return PALETTE[self.conn_ids.get(e.conn or "", 0) % len(PALETTE)]

    def marker(self, e: TraceEvent) -> str:
        return f"url(#ah{self.conn_ids.get(e.conn or '', 0) % len(PALETTE)})"


def render_svg(
    events: Sequence[TraceEvent],
    *,
    conn: str | None = None,
    skip_empty: bool = False,
    title: str | None = None,
    fold: bool = False,
    highlight: Mapping[int, tuple[str, str]] | None = None,
    inline: bool = False,
) -> str:
    """The trace as an SVG document (a string).

    ``conn`` keeps one connection's events (and the peer/harness notes);
    ``skip_empty`` drops heartbeat frames; ``fold`` folds long routine
    stretches; ``highlight`` maps trace indices (into ``events``) to
    ``(kind, label)``: a band of ``BANDS[kind]`` behind that row, the label
    at its right end. ``inline`` leaves out the namespace declaration, for an
    ``<svg>`` inside an HTML page.
    """
    marks = dict(highlight or {})
    picked = [
        i
        for i, e in enumerate(events)
        if (conn is None or e.conn in (conn, None))
        and not (skip_empty and e.kind == FRAME and e.name == "empty")
    ]
    chosen = [events[i] for i in picked]
    rows: list[Row] = list(picked)
    if fold:
        keep = [pos for pos, i in enumerate(picked) if i in marks]
        rows = [_unpick(r, picked) for r in fold_rows(chosen, keep)]
    canvas = _layout(chosen, len(rows))
    title = title or "trace"
    legend = _legend(canvas, max(LEFT + 120, 24 + 8 * len(title)))
    out = _document_head(canvas, inline)
    out.append(_text(8, 16, title, "lane", "start"))
    out += legend
    out += _lifelines(canvas)
    for row, r in enumerate(rows):
        if isinstance(r, Fold):
            out += _fold_row(canvas, row, r)
            continue
        if r in marks:
            out += _band(canvas, row, r, *marks[r])
        out += _row(canvas, row, events[r])
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _unpick(r: Row, picked: list[int]) -> Row:
    """A row of the chosen events back as a row of the whole trace."""
    if isinstance(r, Fold):
        return replace(r, first=picked[r.first], last=picked[r.last])
    return picked[r]


def _layout(chosen: list[TraceEvent], rows: int) -> _Canvas:
    """Lifelines, one colour per connection, and the size of the drawing."""
    lanes = _lanes(chosen)
    x_of = {label: LEFT + COL // 2 + i * COL for i, label in enumerate(lanes)}
    conn_ids: dict[str, int] = {}
    for e in chosen:
        if e.conn is not None:
            conn_ids.setdefault(e.conn, len(conn_ids))
    width = LEFT + COL * len(lanes) + 20
    height = TOP + ROW * (rows + 1) + 20
    return _Canvas(chosen, lanes, x_of, conn_ids, width, height, rows)


def _document_head(canvas: _Canvas, inline: bool = False) -> list[str]:
    """The svg element, styles, one arrow head per colour and the white background."""
    width, height = canvas.width, canvas.height
    ns = "" if inline else ' xmlns="http://www.w3.org/2000/svg"'
    out: list[str] = [
        f'<svg{ns} width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">',
        "<style>"
        ".lane{font-weight:bold;font-size:12px}.time{fill:#888;font-size:10px}"
        ".label{font-size:10.5px}.note{font-size:10px}.cut{fill:#d62728;font-weight:bold}"
        ".conn{fill:#666;font-size:10px}.harness{fill:#555;font-style:italic}"
        ".fold{fill:#555;font-size:10.5px}.spotlabel{font-size:10px;font-weight:bold}"
        "</style>",
        "<defs>",
    ]
    for i, color in enumerate(PALETTE):
        out.append(
            f'<marker id="ah{i}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{color}"/></marker>'
        )
    out.append("</defs>")
    out.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    return out


def _legend(canvas: _Canvas, lx: int) -> list[str]:
    """One entry per connection in its colour (``c1 sender→broker``), from ``lx`` on;
    the canvas grows to hold them all."""
    out = []
    for cid, n in canvas.conn_ids.items():
        c, s = client_of(canvas.events, cid)
        color = PALETTE[n % len(PALETTE)]
        out.append(_text(lx, 16, f"{cid} {c}→{s}", "conn", "start", fill=color))
        lx += 12 + 7 * len(f"{cid} {c}→{s}")
    canvas.width = max(canvas.width, lx + 8)
    return out


def _lifelines(canvas: _Canvas) -> list[str]:
    """A named box and a dashed vertical line per endpoint label."""
    out = []
    bottom = TOP + ROW * (canvas.rows + 1)
    for label, x in canvas.x_of.items():
        out.append(
            f'<rect x="{x - 70}" y="30" width="140" height="24" rx="4" fill="#f4f4f4" '
            f'stroke="#999"/>'
        )
        out.append(_text(x, 46, _cut(label, 20), "lane"))
        out.append(
            f'<line x1="{x}" y1="54" x2="{x}" y2="{bottom}" stroke="#bbb" stroke-dasharray="4 3"/>'
        )
    return out


def _row(canvas: _Canvas, row: int, e: TraceEvent) -> list[str]:
    """One event's row: its time, then an arrow, a note, a band or a line of text."""
    y = TOP + ROW * row + ROW // 2
    tip = f"<title>{escape(render_event(e).strip())}</title>"
    out = [_text(LEFT - 6, y + 4, f"{e.t:.3f}", "time", "end")]
    if e.kind in (FRAME, HEADER):
        out += _arrow(canvas, e, y, tip)
    elif e.kind == PEER:
        out += _peer_box(canvas, e, y, tip)
    elif e.kind == CONN:
        out += _conn_band(canvas, e, y, tip)
    else:  # harness and anything else: a line of text across the diagram
        words = " ".join(f"{k}={v}" for k, v in e.fields.items())
        text = _cut(f"{e.kind}: {e.name} {words}".rstrip(), 100)
        out.append(f'<g class="harness">{tip}')
        out.append(_text(LEFT + 8, y + 4, text, "harness", "start"))
        out.append("</g>")
    return out


def _band(canvas: _Canvas, row: int, index: int, kind: str, label: str) -> list[str]:
    """A highlighted event: a coloured band behind its row, a label at its right end."""
    y = TOP + ROW * row
    color = "#c62828" if kind == "failed" else "#1565c0"
    out = [
        f'<g id="ev{index}" class="spot spot-{escape(kind)}">'
        f'<rect x="2" y="{y}" width="{canvas.width - 4}" height="{ROW}" '
        f'fill="{BANDS.get(kind, "#eee")}" stroke="{color}" stroke-width="1"/>'
    ]
    if label:
        out.append(
            _text(canvas.width - 6, y + ROW - 6, _cut(label, 40), "spotlabel", "end", fill=color)
        )
    out.append("</g>")
    return out


def _fold_row(canvas: _Canvas, row: int, f: Fold) -> list[str]:
    """Folded events: a grey band across the lifelines, what it hides in its label and tooltip."""
    y = TOP + ROW * row
    x1, x2 = LEFT + 10, canvas.width - 10
    return [
        f'<g class="folded"><title>{escape(f.details())}</title>',
        f'<rect x="{x1}" y="{y + 3}" width="{x2 - x1}" height="{ROW - 6}" rx="3" '
        f'fill="#eeeeee" stroke="#bbbbbb" stroke-dasharray="3 2"/>',
        _text(LEFT - 6, y + ROW // 2 + 4, f"{f.t0:.3f}", "time", "end"),
        _text((x1 + x2) / 2, y + ROW // 2 + 4, "⋯ " + f.label(), "fold"),
        "</g>",
    ]


def _arrow(canvas: _Canvas, e: TraceEvent, y: int, tip: str) -> list[str]:
    """A frame or header: an arrow from sender to receiver (a loop if they are one lane)."""
    x_of, lanes = canvas.x_of, canvas.lanes
    color, marker = canvas.color(e), canvas.marker(e)
    x1 = x_of.get(e.src or "?", x_of[lanes[0]])
    x2 = x_of.get(e.dst or "?", x_of[lanes[-1]])
    cls = "frame" if e.kind == FRAME else "header"
    dash = ' stroke-dasharray="5 3"' if e.kind == HEADER or e.name == "empty" else ""
    label = _cut(arrow_label(e))
    if e.kind == FRAME and e.channel:
        label += f" [ch{e.channel}]"
    out = [f'<g class="{cls}" data-conn="{escape(e.conn or "")}">{tip}']
    if x1 == x2:  # both ends on one lifeline: a small loop
        out.append(
            f'<path d="M{x1},{y - 6} h30 v12 h-30" fill="none" stroke="{color}" '
            f'stroke-width="1.4" marker-end="{marker}"{dash}/>'
        )
        out.append(_text(x1 + 36, y + 4, label, "label", "start", fill=color))
    else:
        out.append(
            f'<line x1="{x1}" y1="{y + 3}" x2="{x2}" y2="{y + 3}" stroke="{color}" '
            f'stroke-width="1.4" marker-end="{marker}"{dash}/>'
        )
        out.append(_text((x1 + x2) / 2, y, label, "label", fill=color))
    out.append("</g>")
    return out


def _peer_box(canvas: _Canvas, e: TraceEvent, y: int, tip: str) -> list[str]:
    """A peer's event: a yellow note on its lifeline, kept on the canvas."""
    x = canvas.x_of.get(e.src or "?", canvas.x_of[canvas.lanes[0]])
    note = _cut(_peer_note(e), 40)
    w = 8 + 6 * len(note)
    left = min(max(x - w / 2, LEFT), canvas.width - w - 4)  # keep the note on the canvas
    return [
        f'<g class="peer">{tip}<rect x="{left:.0f}" y="{y - 8}" width="{w}" '
        f'height="16" rx="3" fill="#fff8c4" stroke="#d4c25a"/>',
        _text(left + w / 2, y + 4, note, "note"),
        "</g>",
    ]


def _conn_band(canvas: _Canvas, e: TraceEvent, y: int, tip: str) -> list[str]:
    """A tap connection event across its two lifelines: red for a cut, a thin line otherwise."""
    c, s = client_of(canvas.events, e.conn) if e.conn else (None, None)
    xs = [canvas.x_of[v] for v in (c, s) if v in canvas.x_of] or [canvas.x_of[canvas.lanes[0]]]
    x1, x2 = min(xs) - 40, max(xs) + 40
    if e.name == "cut":
        rule = str(e.fields.get("rule") or "cut")
        return [
            f'<g class="cut">{tip}<rect x="{x1}" y="{y - 2}" width="{x2 - x1}" height="4" '
            f'fill="#d62728" opacity="0.8"/>',
            _text((x1 + x2) / 2, y - 4, f"✂ {e.conn} {_cut(rule, 60)}", "cut"),
            "</g>",
        ]
    color = canvas.color(e)
    text = f"{e.conn} {e.name}"
    if e.fields.get("by"):
        text += f" by {e.fields['by']}"
    return [
        f'<g class="connev">{tip}',
        f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{color}" '
        f'stroke-width="0.6" opacity="0.6"/>',
        _text((x1 + x2) / 2, y - 2, text, "conn", fill=color),
        "</g>",
    ]


def _peer_note(e: TraceEvent) -> str:
    f = e.fields
    parts = [e.name]
    for key in ("id", "body", "link", "credit", "reason", "condition", "ok"):
        if f.get(key) is not None:
            value = f[key]
            parts.append(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}")
    return " ".join(parts)
