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


def index_links(events: Sequence[TraceEvent], *, dispositions: bool = True) -> LinkIndex:
    """Build the :class:`LinkIndex` of a trace (all connections).

    ``dispositions=False`` leaves dispositions out of the links (and
    ``deliveries`` empty): finding a disposition's link takes a map of every
    delivery, the largest part of the index, and the invariants never ask
    which link a disposition settled, only the scopes of patterns do.
    """
    n = len(events)
    idx = LinkIndex(link_of=ByIndex(n), session_of=ByIndex(n), delivery_of=ByIndex(n))
    # one tuple per link for the frames of a single link (nearly all of them)
    single: dict[LinkKey, tuple[LinkKey, ...]] = {}
    sessions: dict[tuple[str, str | None, int], SessionId] = {}
    handles: dict[tuple[str, str | None, int, int], LinkKey] = {}
    current: dict[tuple[str, str | None, int, int], int] = {}  # handle -> delivery in progress
    for i, e in enumerate(events):
        if e.kind != FRAME or e.conn is None:
            continue
        ch = e.channel if e.channel is not None else 0
        here = (e.conn, e.src, ch)
        if e.name == "begin":  # a session is named by the begin that started it
            rc = _int(e.fields.get("remote_channel"))
            mine = (e.conn, e.src, ch, i)
            sessions[here] = sessions.get((e.conn, e.dst, rc), mine) if rc is not None else mine
        sid = sessions.get(here, (*here, -1))
        idx.session_of[i] = sid
        keys: list[LinkKey] = []
        handle = _int(e.fields.get("handle"))
        if e.name == "attach":
            role = e.fields.get("role")
            sender = e.src if role == "sender" else e.dst
            key = (e.conn, str(e.fields.get("name")), sender)
            if key not in idx.links:
                receiver = e.dst if role == "sender" else e.src
                idx.links[key] = LinkInfo(e.conn, key[1], sender, receiver)
            if handle is not None:
                handles[(e.conn, e.src, ch, handle)] = key
            keys.append(key)
        elif e.name in ("flow", "transfer", "detach") and handle is not None:
            key = handles.get((e.conn, e.src, ch, handle))
            if key is not None:
                keys.append(key)
                if e.name == "transfer":
                    hk = (e.conn, e.src, ch, handle)
                    did = _int(e.fields.get("delivery_id"))
                    if did is None:
                        did = current.get(hk)
                    if did is not None:
                        dk = (sid, e.src, did)  # one tuple for both maps
                        if dispositions:
                            idx.deliveries.setdefault(dk, (key, i))
                        idx.delivery_of[i] = dk
                        if e.fields.get("more") and not e.fields.get("aborted"):
                            current[hk] = did
                        else:
                            current.pop(hk, None)
            if e.name == "detach":
                handles.pop((e.conn, e.src, ch, handle), None)
        elif e.name == "disposition" and dispositions:
            first = _int(e.fields.get("first"))
            last = _int(e.fields.get("last"))
            if first is not None:
                last = first if last is None or last < first else min(last, first + 100000)
                sender = e.src if e.fields.get("role") == "sender" else e.dst
                for did in range(first, last + 1):
                    found = idx.deliveries.get((sid, sender, did))
                    if found is not None and found[0] not in keys:
                        keys.append(found[0])
        if keys:
            if len(keys) == 1:
                idx.link_of[i] = single.setdefault(keys[0], (keys[0],))
            else:
                idx.link_of[i] = tuple(keys)
            for key in keys:
                idx.links[key].indices.append(i)
    return idx
