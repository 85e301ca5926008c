"""Messages over time: a small chart of what was sent, confirmed and received.

For an at-least-once cell the story is in three curves: the sender's
transfers (resends included), the deliveries the broker confirmed, and the
distinct messages the receiver got, with the cuts, peer disconnects and
broker restarts marked where they happened. A stall, a lost tail or a burst
of resends after a reconnect shows at a glance. Drawn from the peers'
contract events (``sent``, ``accepted``, ``message``), as inline SVG.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from harness.trace.model import CONN, HARNESS, PEER, TraceEvent

__all__ = ["SERIES", "progress_svg", "series"]

#: curve name -> its colour
SERIES: dict[str, str] = {"sent": "#1f77b4", "confirmed": "#2ca02c", "received": "#ff7f0e"}
_MIN_MESSAGES = 5


def series(events: Sequence[TraceEvent]) -> dict[str, list[float]]:
    """The times of each sent, confirmed and (distinct) received message."""
    out: dict[str, list[float]] = {k: [] for k in SERIES}
    for e in events:
        if e.kind != PEER:
            continue
        if e.name == "sent":
            out["sent"].append(e.t)
        elif e.name == "accepted":
            out["confirmed"].append(e.t)
        elif e.name == "message" and not e.fields.get("duplicate"):
            out["received"].append(e.t)
    return out


def _marks(events: Sequence[TraceEvent]) -> list[tuple[float, str]]:
    """(time, label) of what interrupts the flow: cuts, restarts, disconnects."""
    out = []
    for e in events:
        if e.kind == CONN and e.name == "cut":
            out.append((e.t, f"cut {e.conn}"))
        elif e.kind == HARNESS and e.name in ("broker-restart", "broker-restarted"):
            out.append((e.t, e.name.replace("broker-", "broker ")))
        elif e.kind == PEER and e.name == "disconnected":
            out.append((e.t, f"{e.src} disconnected"))
    return out


def progress_svg(events: Sequence[TraceEvent], width: int = 640, height: int = 210) -> str | None:
    """The chart as an inline ``<svg>`` (no namespace declaration), or None for few messages."""
    data = series(events)
    if max(len(v) for v in data.values()) < _MIN_MESSAGES:
        return None
    times = [t for v in data.values() for t in v]
    marks = _marks(events)
    t0 = min(times + [t for t, _ in marks])
    t1 = max(times + [t for t, _ in marks])
    span = max(t1 - t0, 1e-3)
    top = max(len(v) for v in data.values())
    left, right, up, down = 50, 130, 12, 28
    w, h = width - left - right, height - up - down

    def x(t: float) -> float:
        return left + w * (t - t0) / span

    def y(n: int) -> float:
        return up + h - h * n / top

    out = [
        f'<svg class="progress" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="11">',
        f'<rect x="{left}" y="{up}" width="{w}" height="{h}" fill="#fafafa" stroke="#ccc"/>',
        f'<text x="{left - 4}" y="{up + 4}" text-anchor="end">{top}</text>',
        f'<text x="{left - 4}" y="{up + h}" text-anchor="end">0</text>',
        f'<text x="{left}" y="{height - 8}">{t0:.2f} s</text>',
        f'<text x="{left + w}" y="{height - 8}" text-anchor="end">{t1:.2f} s</text>',
    ]
    for t, label in marks:
        out.append(
            f'<g class="mark"><title>{escape(f"{t:.3f} {label}")}</title>'
            f'<line x1="{x(t):.1f}" y1="{up}" x2="{x(t):.1f}" y2="{up + h}" stroke="#d62728" '
            f'stroke-dasharray="4 2"/></g>'
        )
    for n, (name, color) in enumerate(SERIES.items()):
        pts = [f"{x(t0):.1f},{y(0):.1f}"]
        ts = sorted(data[name])
        step = max(1, len(ts) // 300)  # a few hundred steps are as smooth as a thousand
        for i in range(step, len(ts) + 1, step):
            pts.append(f"{x(ts[i - 1]):.1f},{y(i - step):.1f} {x(ts[i - 1]):.1f},{y(i):.1f}")
        if data[name]:
            pts.append(f"{x(t1):.1f},{y(len(data[name])):.1f}")
        out.append(
            f'<polyline class="series-{name}" points="{" ".join(pts)}" fill="none" '
            f'stroke="{color}" stroke-width="1.6"/>'
        )
        ly = up + 14 + 16 * n
        out.append(
            f'<line x1="{left + w + 10}" y1="{ly - 4}" x2="{left + w + 26}" y2="{ly - 4}" '
            f'stroke="{color}" stroke-width="2"/>'
            f'<text x="{left + w + 30}" y="{ly}">{name} {len(data[name])}</text>'
        )
    if marks:
        ly = up + 14 + 16 * len(SERIES)
        out.append(
            f'<line x1="{left + w + 10}" y1="{ly - 4}" x2="{left + w + 26}" y2="{ly - 4}" '
            f'stroke="#d62728" stroke-dasharray="4 2"/>'
            f'<text x="{left + w + 30}" y="{ly}">cut / restart</text>'
        )
    out.append("</svg>")
    return "\n".join(out)
