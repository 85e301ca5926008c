"""Multi-frame deliveries as one trace event, with the number of frames it took.

A sender may split a message over several transfer frames (``more=true`` on
all but the last; AMQP 1.0 2.6.14), and a broker with a small max-frame-size
does. The trace records such a delivery as *one* ``transfer`` event: the
first frame's fields (handle, delivery-id, tag, format), ``settled`` if any
frame settled it, the last frame's ``more``/``aborted``/``state``, the whole
message summary, the summed ``payload_size`` and ``frames`` (the count), at
the time of its last frame. Patterns, invariants, the diff and the diagram
then see deliveries, whatever the framing. A delivery left unfinished (the
connection cut or closed mid-way) is recorded as it stood, ``more`` still
true. Single-frame transfers pass through unchanged.

The tap's fault rules still see every frame (a cut "after the 500th
transfer" counts deliveries by their last frame, see harness.wire.faults).
"""

from __future__ import annotations

from collections.abc import Callable

from harness.trace.model import CONN, FRAME, TraceEvent

__all__ = ["DeliveryJoiner"]

# (connection, sending side, channel, handle)
_Key = tuple[str | None, str | None, int | None, object]


class DeliveryJoiner:
    """Feeds ``emit`` the events it is given, with the frames of a delivery joined."""

    def __init__(self, emit: Callable[[TraceEvent], None]) -> None:
        self.emit = emit
        self.partial: dict[_Key, TraceEvent] = {}

    def add(self, event: TraceEvent) -> None:
        """One event as it comes (frames of one direction in wire order)."""
        if event.kind == CONN and event.name in ("close", "cut"):
            self.flush(event.conn)
        if event.kind != FRAME or event.name != "transfer":
            if event.kind == FRAME and event.name in ("detach", "end", "close"):
                self._flush_where(event)
            self.emit(event)
            return
        f = event.fields
        key = (event.conn, event.src, event.channel, f.get("handle"))
        more = bool(f.get("more")) and not f.get("aborted")
        held = self.partial.pop(key, None)
        if held is None:
            if not more:
                self.emit(event)
                return
            held = TraceEvent(
                event.t,
                event.kind,
                event.name,
                event.conn,
                event.src,
                event.dst,
                event.channel,
                {**f, "frames": 1},
            )
        else:
            _merge(held, event)
        if more:
            self.partial[key] = held
        else:
            self.emit(held)

    def _flush_where(self, event: TraceEvent) -> None:
        """A detach, end or close from a side ends its unfinished deliveries in that scope."""
        for key in list(self.partial):
            conn, src, channel, handle = key
            if conn != event.conn or src != event.src:
                continue
            if event.name == "close" or channel == event.channel:
                if event.name != "detach" or handle == event.fields.get("handle"):
                    self.emit(self.partial.pop(key))

    def flush(self, conn: str | None = None, src: str | None = None) -> None:
        """Record the unfinished deliveries (of one connection / sending side) as they stood."""
        for key in list(self.partial):
            if (conn is None or key[0] == conn) and (src is None or key[1] == src):
                self.emit(self.partial.pop(key))


def _merge(held: TraceEvent, event: TraceEvent) -> None:
    """Fold a continuation frame into the delivery held so far."""
    f, h = event.fields, held.fields
    h["frames"] = int(h.get("frames", 1)) + 1
    h["payload_size"] = int(h.get("payload_size") or 0) + int(f.get("payload_size") or 0)
    h["settled"] = bool(h.get("settled")) or bool(f.get("settled"))
    h["more"] = bool(f.get("more"))
    for name in ("aborted", "state", "batchable", "message"):
        if f.get(name) is not None:
            h[name] = f[name]
    if h.get("delivery_id") is None and f.get("delivery_id") is not None:
        h["delivery_id"] = f["delivery_id"]
    held.t = event.t
