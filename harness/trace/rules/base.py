"""What every invariant rule needs: the violation record and facts about the trace.

A ``Context`` follows the trace as it passes, one event at a time, and
tells every ``Rule`` what several ask for (each connection's order and end
labels, which of a client's connections are still up, the session, links
and delivery of the frame at hand), so adding a rule costs nothing but its
own state. ``TraceInfo`` answers the same over a whole trace or over the
story a context kept, for the rules and scenario checks that look ahead.
The helpers format a frame the way every violation message names it and do
RFC-1982 serial arithmetic for delivery counts and ids, which wrap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.trace.model import CONN, FRAME, HEADER, TraceEvent
from harness.trace.topology import LinkKey, SessionId, Tracker, client_of

__all__ = [
    "SERIAL",
    "STORY_FRAMES",
    "Context",
    "Rule",
    "StoryRule",
    "TraceInfo",
    "Violation",
    "as_int",
    "attach_pairs",
    "channel_of",
    "describe_frame",
    "disposition_range",
    "ending_of",
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
    """What several rules need, computed once per trace (or per story: see ``Context``).

    ``events`` is the whole trace, or a mapping of trace index to event that
    holds only some of it (the story the streaming rules keep); ``last_t`` is
    the time of the trace's last event, which a mapping may not hold.
    """

    def __init__(
        self,
        events: Sequence[TraceEvent] | Mapping[int, TraceEvent],
        last_t: float | None = None,
    ) -> None:
        if isinstance(events, Mapping):
            self.events: Sequence[TraceEvent] | Mapping[int, TraceEvent] = events
            pairs: Iterable[tuple[int, TraceEvent]] = events.items()
        else:
            self.events = list(events)
            pairs = enumerate(self.events)
            if last_t is None and self.events:
                last_t = self.events[-1].t
        self.last_t = last_t if last_t is not None else 0.0
        self.conns: list[str] = []
        self.indices: dict[str, list[int]] = {}
        for i, e in pairs:
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
            found = ending_of(self.events[i])
            if found is not None:
                return found[0], found[1], i
        return "open", None, None


def ending_of(e: TraceEvent) -> tuple[str, str | None] | None:
    """(how, by whom) if ``e`` ends its connection (see ``TraceInfo.ending``), else None."""
    if e.kind == FRAME and e.name == "close":
        return "close", e.src
    if e.kind == CONN and e.name == "cut":
        return "cut", None
    if e.kind == CONN and e.name == "close":
        return "tcp", e.fields.get("by")
    return None


#: frames the look-ahead rules read (attach answered, dynamic address, detach before close):
#: a few per link and connection, so a streaming check keeps them all
STORY_FRAMES = frozenset({"open", "begin", "attach", "detach", "end", "close"})


class Context:
    """What the streaming rules share while a trace passes, one event at a time.

    Each event is fed once, in trace order; the context keeps what is live
    (the tracker's sessions, links and handles, each connection's order and
    ends) and, for the rules that look ahead, the story: headers, connection
    events and ``STORY_FRAMES``, a few per link. Nothing kept grows with the
    number of messages.
    """

    def __init__(self, *, story: bool = True) -> None:
        self.tracker = Tracker()
        self.order: dict[str, int] = {}  # connection -> its number, in order of first event
        self.labels: dict[str, tuple[str | None, str | None]] = {}
        self._named: set[str] = set()  # labelled by the tap's own connection event
        self.live: dict[str | None, set[str]] = {}  # client label -> its connections still up
        self.ended: set[str] = set()
        self.story: dict[int, TraceEvent] | None = {} if story else None
        self.last_t = 0.0
        # the frame at hand: its session, link keys and delivery (Tracker.step)
        self.sid: SessionId | None = None
        self.keys: tuple[LinkKey, ...] = ()
        self.dk: Any = None

    def step(self, i: int, e: TraceEvent) -> str | None:
        """Take in event ``i``; its kind if it is a connection's (frame, conn, header)."""
        self.last_t = e.t
        conn, kind = e.conn, e.kind
        if conn is None or kind not in (FRAME, CONN, HEADER):
            return None
        if conn not in self.order:
            self.order[conn] = len(self.order)
        if kind == CONN:
            if e.name in ("accept", "connect", "refused") and conn not in self._named:
                self._label(conn, e)
                self._named.add(conn)
        elif conn not in self.labels:
            self._label(conn, e)
        if conn not in self.ended and ending_of(e) is not None:
            self.ended.add(conn)  # a close frame, a TCP close or a cut
            self.live.get(self.labels.get(conn, (None,))[0], set()).discard(conn)
        if self.story is not None and (kind != FRAME or e.name in STORY_FRAMES):
            self.story[i] = e
        if kind == FRAME:
            where = self.tracker.step(i, e)
            assert where is not None
            self.sid, self.keys, self.dk = where
        return kind

    def _label(self, conn: str, e: TraceEvent) -> None:
        """(client, server) of ``conn`` from ``e``; its place among the client's live ones."""
        old = self.labels.get(conn)
        if old is not None:
            self.live.get(old[0], set()).discard(conn)
        self.labels[conn] = (e.src, e.dst)
        if conn not in self.ended:
            self.live.setdefault(e.src, set()).add(conn)

    def story_info(self) -> TraceInfo:
        """The kept story as a ``TraceInfo`` (trace indices kept) for the look-ahead rules."""
        return TraceInfo(self.story or {}, last_t=self.last_t)


class Rule:
    """One invariant as a streaming observer of a trace (see ``harness.trace.stream``).

    ``frames`` names the frames it reads (None: every frame); ``conn_events``
    asks for the tap's connection events too. ``frame`` and ``conn_event``
    see them in trace order, ``finish`` after the last one; each reports
    through ``report``.
    """

    id = ""
    frames: frozenset[str] | None = None
    conn_events = False

    def __init__(self, ctx: Context, report: Callable[[Violation], None]) -> None:
        self.ctx = ctx
        self._report = report
        self.start()

    def start(self) -> None:
        """Set up the rule's own state (per link, session or connection)."""

    def frame(self, i: int, e: TraceEvent) -> None:
        """A frame the rule asked for."""

    def conn_event(self, i: int, e: TraceEvent) -> None:
        """A connection event (accept, close, cut ...) when ``conn_events`` is set."""

    def finish(self) -> None:
        """The trace is over: report what only its end shows."""

    def report(
        self,
        message: str,
        i: int | None,
        t: float | None,
        conn: str | None,
        side: str | None,
    ) -> None:
        self._report(Violation(self.id, message, i, t, conn, side))

    def at(self, message: str, i: int, e: TraceEvent, side: str | None = None) -> None:
        """A violation at frame ``e`` (index ``i``), held to its sender unless ``side`` says."""
        self.report(message, i, e.t, e.conn, side if side is not None else e.src)


class StoryRule(Rule):
    """A rule that looks ahead: it runs at the end, over the story the context kept."""

    frames = frozenset()
    check: Callable[[TraceInfo], Iterator[Violation]]

    def finish(self) -> None:
        for v in type(self).check(self.ctx.story_info()):
            self._report(v)


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
