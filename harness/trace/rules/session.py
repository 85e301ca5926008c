"""Session flow control: no transfer frame beyond the partner's incoming window (2.5.6).

Every transfer *frame* (not delivery: a split delivery spends one per frame)
takes one transfer-id. The receiving side's begin and flows say up to where
it will take them: its next-incoming-id plus its incoming-window (a null
next-incoming-id, before it has seen the sender's begin, means the sender's
own next-outgoing-id). As with link credit, the highest limit granted is
kept: the tap sees a window shrink before the sender can.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.trace.model import TraceEvent
from harness.trace.rules.base import SERIAL, Rule, as_int, describe_frame, sdiff

__all__ = ["SessionWindow"]


@dataclass
class _Window:
    """One direction of one session: the sender's next transfer-id and the limit granted."""

    next_out: int | None = None  # the sender's next-outgoing-id
    limit: int | None = None
    limit_t: float | None = None  # when the begin or flow that granted it came
    pending: tuple[int, float] | None = None  # (window, time) granted before next_out was known

    def grant(self, nii: int | None, window: int, t: float) -> None:
        if nii is None and self.next_out is None:
            self.pending = (window, t)
            return
        new = ((nii if nii is not None else self.next_out or 0) + window) % SERIAL
        if self.limit is None or sdiff(new, self.limit) >= 0:
            self.limit, self.limit_t = new, t


class SessionWindow(Rule):
    """Transfer frames stay within the incoming window the receiving side granted."""

    id = "session-window"
    frames = frozenset({"begin", "flow", "transfer"})

    def start(self) -> None:
        self.windows: dict[tuple, _Window] = {}  # (session id, sending side) -> window

    def frame(self, i: int, e: TraceEvent) -> None:
        sid = self.ctx.sid
        if e.name != "transfer":
            _from_receiver(self.windows, sid, e)
            return
        w = self.windows.get((sid, e.src))
        if w is None:
            w = self.windows[(sid, e.src)] = _Window()
        problem = _spend(w, e)
        if problem is not None:
            self.at(problem, i, e)


def _from_receiver(windows: dict[tuple, _Window], sid: tuple | None, e: TraceEvent) -> None:
    """A begin or flow: the sender's own next-outgoing-id, and the window it grants the other."""
    mine = windows.setdefault((sid, e.src), _Window())
    nout = as_int(e.fields.get("next_outgoing_id"))
    if nout is not None and (mine.next_out is None or e.name == "begin"):
        mine.next_out = nout
        if mine.pending is not None:
            window, at = mine.pending
            mine.pending = None
            mine.grant(None, window, at)
    window = as_int(e.fields.get("incoming_window"))
    if window is None:
        return
    other = windows.setdefault((sid, e.dst), _Window())
    other.grant(as_int(e.fields.get("next_incoming_id")), window, e.t)


def _spend(w: _Window, e: TraceEvent) -> str | None:
    """Count a transfer event's frames against the window; what is wrong, if anything."""
    frames = as_int(e.fields.get("frames")) or 1
    if w.next_out is None or w.limit is None:
        if w.next_out is not None:
            w.next_out = (w.next_out + frames) % SERIAL
        return None
    over = sdiff((w.next_out + frames) % SERIAL, w.limit)
    w.next_out = (w.next_out + frames) % SERIAL
    if over <= 0:
        return None
    at = w.limit_t if w.limit_t is not None else 0.0
    return (
        f"{describe_frame(e)}: {over} transfer frame(s) beyond the incoming window "
        f"{e.dst} granted (up to transfer-id {w.limit}, at {at:.3f})"
    )
