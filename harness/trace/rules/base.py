"""What every invariant rule needs: the violation record and facts about the trace.

``TraceInfo`` computes once per trace what several rules ask for (the
connections in order, each one's event indices and end labels, the link
index, how a connection ended), so adding a rule costs one pass over the
frames it cares about and nothing else. The helpers format a frame the way
every violation message names it and do RFC-1982 serial arithmetic for
delivery counts and ids, which wrap.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from harness.trace.model import CONN, FRAME, HEADER, TraceEvent
from harness.trace.topology import LinkIndex, LinkKey, client_of, index_links

__all__ = [
    "SERIAL",
    "TraceInfo",
    "Violation",
    "as_int",
    "attach_pairs",
    "channel_of",
    "describe_frame",
    "disposition_range",
    "sdiff",
]

#: delivery counts and ids are serial numbers modulo 2**32
SERIAL = 2**32


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, where (trace index, time, connection), what, and the
    side that deviated (the label of the endpoint the rule holds to it)."""

    rule: str
    message: str
    index: int | None = None
    t: float | None = None
    conn: str | None = None
    side: str | None = None

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


def sdiff(a: int, b: int) -> int:
    """a - b in RFC-1982 serial number arithmetic (delivery counts and ids wrap)."""
    return ((a - b + 2**31) % SERIAL) - 2**31


def as_int(value: Any) -> int | None:
    """``value`` if it is an integer (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def channel_of(e: TraceEvent) -> int:
    """The frame's channel (0 when the event has none)."""
    return e.channel if e.channel is not None else 0


def disposition_range(e: TraceEvent) -> tuple[int, int] | None:
    """(first, last) delivery ids a disposition covers (capped), or None without ``first``."""
    first = as_int(e.fields.get("first"))
    if first is None:
        return None
    last = as_int(e.fields.get("last"))
    last = first if last is None or last < first else min(last, first + 100000)
    return first, last


_KEY_FIELDS = ("name", "handle", "delivery_id", "first", "last")


def describe_frame(e: TraceEvent) -> str:
    """'c1 sender->broker attach name=L handle=0 at 0.013': the frame in a message."""
    parts = [f"{e.conn} {e.src}->{e.dst} {e.name}"]
    for k in _KEY_FIELDS:
        v = e.fields.get(k)
        if v is not None:
            parts.append(f"{k}={v}")
    msg_id = e.get("message__id")
    if msg_id is not None:
        parts.append(f"message id={msg_id!r}")
    if e.channel:
        parts.append(f"on channel {e.channel}")
    parts.append(f"at {e.t:.3f}")
    return " ".join(parts)


class TraceInfo:
    """What several rules need, computed once per trace."""

    def __init__(self, events: Sequence[TraceEvent]) -> None:
        self.events = list(events)
        self.conns: list[str] = []
        self.indices: dict[str, list[int]] = {}
        for i, e in enumerate(self.events):
            if e.conn is None or e.kind not in (FRAME, CONN, HEADER):
                continue
            if e.conn not in self.indices:
                self.conns.append(e.conn)
                self.indices[e.conn] = []
            self.indices[e.conn].append(i)
        # each connection's own events only: a scan of the whole trace per connection
        # was 40 passes over half a million events in a run with 20 cuts
        self.labels = {
            c: client_of([self.events[i] for i in self.indices[c]], c) for c in self.conns
        }
        self._links: LinkIndex | None = None

    @property
    def links(self) -> LinkIndex:
        """The link index of the trace (built on first use; no rule asks a disposition's link)."""
        if self._links is None:
            self._links = index_links(self.events, dispositions=False)
        return self._links

    def frames(self, conn: str) -> Iterator[tuple[int, TraceEvent]]:
        """(trace index, event) of each frame of one connection."""
        for i in self.indices[conn]:
            e = self.events[i]
            if e.kind == FRAME:
                yield i, e

    def v(
        self, rule: str, message: str, i: int | None, conn: str | None, side: str | None = None
    ) -> Violation:
        """A violation at trace index ``i`` (its time taken from the event); ``side``
        defaults to the sender of that event (who sent the offending frame)."""
        t = self.events[i].t if i is not None else None
        if side is None and i is not None:
            side = self.events[i].src
        return Violation(rule, message, i, t, conn, side)

    def ending(self, conn: str, after: int) -> tuple[str, str | None, int | None]:
        """How the connection ended after trace index ``after``: (how, by whom, index).

        ``how`` is "close" (a close frame, by its sender), "cut" (a fault),
        "tcp" (the TCP connection closed without a close frame, by the label the
        tap names) or "open" (the trace ends with the connection up).
        """
        for i in self.indices[conn]:
            if i <= after:
                continue
            e = self.events[i]
            if e.kind == FRAME and e.name == "close":
                return "close", e.src, i
            if e.kind == CONN and e.name == "cut":
                return "cut", None, i
            if e.kind == CONN and e.name == "close":
                return "tcp", e.fields.get("by"), i
        return "open", None, None


def attach_pairs(info: TraceInfo, conn: str) -> tuple[list[tuple[int, int]], list[int]]:
    """Attaches of one connection paired with their answers; and the unanswered ones.

    An attach from one side is answered by the next attach of the same link
    (name and sending side) from the other side.
    """
    pending: dict[tuple[LinkKey, str | None], list[int]] = {}
    pairs: list[tuple[int, int]] = []
    for i, e in info.frames(conn):
        if e.name != "attach":
            continue
        role = e.fields.get("role")
        sender = e.src if role == "sender" else e.dst
        key: LinkKey = (conn, str(e.fields.get("name")), sender)
        waiting = pending.get((key, e.dst))
        if waiting:
            pairs.append((waiting.pop(0), i))
        else:
            pending.setdefault((key, e.src), []).append(i)
    unanswered = sorted(i for lst in pending.values() for i in lst)
    return pairs, unanswered
