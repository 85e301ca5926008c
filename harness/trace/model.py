"""The one event type every trace is made of.

Wire frames seen by the tap, peers' handler events and the harness's own
notes (a cut, a broker restart) share one record so that a single ordered
list, on one clock, tells the whole story of a cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# kinds of trace events
FRAME = "frame"  # a decoded AMQP/SASL frame (name = performative, "empty" for heartbeats)
HEADER = "header"  # a protocol header (name = "amqp", "sasl" or "tls")
CONN = "conn"  # tap connection lifecycle: name = "accept", "connect", "close", "cut", "refused"
PEER = "peer"  # a peer's handler event (name in the harness vocabulary)
HARNESS = "harness"  # something the harness did: "fault", "broker-restart", "timeout", ...


@dataclass(slots=True)
class TraceEvent:
    """One line of a trace.

    ``t`` is seconds since the cell started, on the harness's monotonic clock:
    peer events are stamped when their line is read, frames when the tap
    decodes them, so both sit on one timeline.

    ``conn`` names a tapped TCP connection ("c1", "c2" ... in accept order);
    ``src``/``dst`` are the endpoint labels of that connection ("sender",
    "broker"), or for peer events ``src`` is the peer's label.
    """

    t: float
    kind: str
    name: str
    conn: str | None = None
    src: str | None = None
    dst: str | None = None
    channel: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"t": round(self.t, 6), "kind": self.kind, "name": self.name}
        if self.conn is not None:
            d["conn"] = self.conn
        if self.src is not None:
            d["src"] = self.src
        if self.dst is not None:
            d["dst"] = self.dst
        if self.channel is not None:
            d["channel"] = self.channel
        if self.fields:
            d["fields"] = self.fields
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TraceEvent:
        try:
            t = float(d["t"])
            event = cls(
                t=t,
                kind=str(d["kind"]),
                name=str(d["name"]),
                conn=d.get("conn"),
                src=d.get("src"),
                dst=d.get("dst"),
                channel=d.get("channel"),
                fields=d.get("fields") or {},
            )
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"not a trace event: {e}") from e
        # a trace file is input (``interop trace FILE``): wrong types fail here, in one line,
        # not later as a TypeError in whatever sorts or draws the events
        if t - t != 0.0:
            raise ValueError(f"not a trace event: t is {t}")
        for key in ("conn", "src", "dst"):
            if not isinstance(getattr(event, key), str | None):
                raise ValueError(f"not a trace event: {key} is not a string")
        if event.channel is not None and type(event.channel) is not int:
            raise ValueError("not a trace event: channel is not an integer")
        if not isinstance(event.fields, dict):
            raise ValueError("not a trace event: fields is not an object")
        event.fields = dict(event.fields)
        return event

    @property
    def is_frame(self) -> bool:
        return self.kind == FRAME

    def get(self, path: str, default: Any = None) -> Any:
        """Look up a field by a ``__``-separated path (``source__address``)."""
        cur: Any = self.fields
        for part in path.split("__"):
            if isinstance(cur, dict) and part in cur:
                cur = cur[part]
            else:
                return default
        return cur
