"""Who is who in a trace: each connection's two ends, and each link's frames.

Patterns, invariants, the diff and the diagram all need the same answers:
which label is the client of connection ``c2``, which frames belong to link
``L`` (handles are per direction and session, delivery ids per session), and
which session a frame is on. They are computed here, once, from the frames
alone, so every consumer agrees on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from harness.trace.model import CONN, FRAME, HEADER, TraceEvent

__all__ = [
    "ByIndex",
    "LinkIndex",
    "LinkInfo",
    "LinkKey",
    "SessionId",
    "Tracker",
    "client_of",
    "conn_ids",
    "index_links",
]


# ---------------------------------------------------------------------- connections


def client_of(events: Sequence[TraceEvent], conn_id: str) -> tuple[str | None, str | None]:
    """(client label, server label) of a connection: the tap's accept event, or
    the side that sent the first header/frame."""
    for e in events:
        if e.conn == conn_id and e.kind == CONN and e.name in ("accept", "connect", "refused"):
            return e.src, e.dst
    for e in events:
        if e.conn == conn_id and e.kind in (HEADER, FRAME):
            return e.src, e.dst
    return None, None


def conn_ids(events: Sequence[TraceEvent]) -> list[str]:
    """The tapped connections' ids, in order of their first event."""
    seen: dict[str, None] = {}
    for e in events:
        if e.conn is not None and e.kind in (FRAME, HEADER, CONN):
            seen.setdefault(e.conn, None)
    return list(seen)


# ---------------------------------------------------------------------------- links


# (conn, side that began it, its channel, trace index of that begin or -1)
SessionId = tuple[str, str | None, int, int]
# (conn, link name, sending side)
LinkKey = tuple[str, str, str | None]


@dataclass
class LinkInfo:
    """One link of one connection: who sends, who receives, and its events."""

    conn: str
    name: str
    sender: str | None
    receiver: str | None
    indices: list[int] = field(default_factory=list)  # trace indices of its frames

    @property
    def key(self) -> LinkKey:
        """(conn, name, sending side): a link name alone is unique only per direction."""
        return (self.conn, self.name, self.sender)


T = TypeVar("T")


class ByIndex(Generic[T]):
    """A value per trace index, held in a list the length of the trace.

    A dict entry per frame, three maps over a 100,000-message trace, was
    about as large as the checks' whole working set again; a list slot is
    8 bytes and keeps no key. Reads as a dict does: ``get(i)``, ``m[i]``,
    ``i in m``.
    """

    __slots__ = ("_slots",)

    def __init__(self, size: int = 0) -> None:
        self._slots: list[T | None] = [None] * size

    def __setitem__(self, i: int, value: T) -> None:
        if i >= len(self._slots):
            self._slots.extend([None] * (i + 1 - len(self._slots)))
        self._slots[i] = value

    def __getitem__(self, i: int) -> T:
        value = self.get(i)
        if value is None:
            raise KeyError(i)
        return value

    def get(self, i: int, default: T | None = None) -> T | None:
        if 0 <= i < len(self._slots):
            value = self._slots[i]
            if value is not None:
                return value
        return default

    def __contains__(self, i: object) -> bool:
        return isinstance(i, int) and self.get(i) is not None

    def __len__(self) -> int:
        return sum(1 for v in self._slots if v is not None)


@dataclass
class LinkIndex:
    """Which frames belong to which link, and which session each frame is on.

    Handles are per direction and per session, delivery ids per session and
    direction, so a frame's link is found through the attach that mapped its
    handle on its channel, and a disposition's through the delivery ids of the
    link's transfers. Shared by the ``link`` scope and the invariants.
    """

    links: dict[LinkKey, LinkInfo] = field(default_factory=dict)
    link_of: ByIndex[tuple[LinkKey, ...]] = field(default_factory=ByIndex)
    session_of: ByIndex[SessionId] = field(default_factory=ByIndex)
    # (session, sending side, delivery id) -> (link key, index of its first transfer)
    deliveries: dict[tuple[SessionId, str | None, int], tuple[LinkKey, int]] = field(
        default_factory=dict
    )
    # trace index of every transfer frame -> (session, sending side, delivery id)
    delivery_of: ByIndex[tuple[SessionId, str | None, int]] = field(default_factory=ByIndex)

    def links_of(self, conn_id: str) -> list[LinkInfo]:
        """The links of one connection, in order of their first attach."""
        return [info for info in self.links.values() if info.conn == conn_id]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Tracker:
    """The link index built one frame at a time, keeping only what is live.

    ``step(i, e)`` answers, for a frame in trace order, which session it is
    on, which links it belongs to and which delivery it carries: what
    :func:`index_links` stores for every frame, and what the streaming
    invariants (:mod:`harness.trace.stream`) ask of each frame as it passes
    and then forget. It holds the sessions, links and handles of the trace
    (a few per connection) and the deliveries in progress; with
    ``dispositions`` also every delivery's link, which is what finding a
    disposition's link takes.
    """

    __slots__ = ("_current", "_handles", "_sessions", "_single", "deliveries", "links")

    def __init__(self, *, dispositions: bool = False) -> None:
        self.links: dict[LinkKey, LinkInfo] = {}
        # (session, sending side, delivery id) -> (link key, index of its first transfer)
        self.deliveries: dict[tuple[SessionId, str | None, int], tuple[LinkKey, int]] | None = (
            {} if dispositions else None
        )
        self._single: dict[LinkKey, tuple[LinkKey, ...]] = {}  # one tuple per link
        self._sessions: dict[tuple[str, str | None, int], SessionId] = {}
        self._handles: dict[tuple[str, str | None, int, int], LinkKey] = {}
        self._current: dict[tuple[str, str | None, int, int], int] = {}  # delivery in progress

    def step(self, i: int, e: TraceEvent) -> tuple[SessionId, tuple[LinkKey, ...], Any] | None:
        """(session, link keys, delivery key or None) of frame ``e`` at index ``i``;
        None for anything that is not a frame of a connection."""
        if e.kind != FRAME or e.conn is None:
            return None
        ch = e.channel if e.channel is not None else 0
        here = (e.conn, e.src, ch)
        sessions = self._sessions
        if e.name == "begin":  # a session is named by the begin that started it
            rc = _int(e.fields.get("remote_channel"))
            mine = (e.conn, e.src, ch, i)
            sessions[here] = sessions.get((e.conn, e.dst, rc), mine) if rc is not None else mine
        sid = sessions.get(here, (*here, -1))
        keys: list[LinkKey] = []
        dk = None
        handle = _int(e.fields.get("handle"))
        if e.name == "attach":
            role = e.fields.get("role")
            sender = e.src if role == "sender" else e.dst
            key = (e.conn, str(e.fields.get("name")), sender)
            if key not in self.links:
                receiver = e.dst if role == "sender" else e.src
                self.links[key] = LinkInfo(e.conn, key[1], sender, receiver)
            if handle is not None:
                self._handles[(e.conn, e.src, ch, handle)] = key
            keys.append(key)
        elif e.name in ("flow", "transfer", "detach") and handle is not None:
            hk = (e.conn, e.src, ch, handle)
            key = self._handles.get(hk)
            if key is not None:
                keys.append(key)
                if e.name == "transfer":
                    dk = self._delivery(i, e, sid, key, hk)
            if e.name == "detach":
                self._handles.pop(hk, None)
        elif e.name == "disposition" and self.deliveries is not None:
            first = _int(e.fields.get("first"))
            last = _int(e.fields.get("last"))
            if first is not None:
                last = first if last is None or last < first else min(last, first + 100000)
                sender = e.src if e.fields.get("role") == "sender" else e.dst
                for did in range(first, last + 1):
                    found = self.deliveries.get((sid, sender, did))
                    if found is not None and found[0] not in keys:
                        keys.append(found[0])
        if not keys:
            return sid, (), dk
        if len(keys) == 1:
            return sid, self._single.setdefault(keys[0], (keys[0],)), dk
        return sid, tuple(keys), dk

    def _delivery(self, i: int, e: TraceEvent, sid: SessionId, key: LinkKey, hk: tuple) -> Any:
        """The delivery a transfer carries: its own id, or that of the delivery it continues."""
        did = _int(e.fields.get("delivery_id"))
        if did is None:
            did = self._current.get(hk)
        if did is None:
            return None
        dk = (sid, e.src, did)
        if self.deliveries is not None:
            self.deliveries.setdefault(dk, (key, i))
        if e.fields.get("more") and not e.fields.get("aborted"):
            self._current[hk] = did
        else:
            self._current.pop(hk, None)
        return dk


def index_links(events: Sequence[TraceEvent], *, dispositions: bool = True) -> LinkIndex:
    """Build the :class:`LinkIndex` of a trace (all connections).

    ``dispositions=False`` leaves dispositions out of the links (and
    ``deliveries`` empty): finding a disposition's link takes a map of every
    delivery, the largest part of the index, and the invariants never ask
    which link a disposition settled, only the scopes of patterns do.
    """
    n = len(events)
    idx = LinkIndex(link_of=ByIndex(n), session_of=ByIndex(n), delivery_of=ByIndex(n))
    tracker = Tracker(dispositions=dispositions)
    idx.links = tracker.links
    for i, e in enumerate(events):
        where = tracker.step(i, e)
        if where is None:
            continue
        sid, keys, dk = where
        idx.session_of[i] = sid
        if dk is not None:
            idx.delivery_of[i] = dk
        if keys:
            idx.link_of[i] = keys
            for key in keys:
                idx.links[key].indices.append(i)
    if tracker.deliveries is not None:
        idx.deliveries = tracker.deliveries
    return idx
