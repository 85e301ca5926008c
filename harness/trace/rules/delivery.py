"""At-least-once across reconnects: an unsettled message is settled or sent again (3.4).

A client that loses its connection with messages unsettled must send them
again on a later connection (same message id); the trace holds every
connection of the cell, so the rule can follow a message id across them.
"""

from __future__ import annotations

from typing import Any

from harness.trace.model import TraceEvent
from harness.trace.rules.base import Rule, disposition_range, ending_of

__all__ = ["SettledOrResent"]

# a delivery: (session, sending side, delivery id), as in LinkIndex.delivery_of
_Delivery = tuple[Any, ...]


class _Conn:
    """One connection of a client: its deliveries no frame settled yet, and its ends."""

    __slots__ = ("client", "endings", "order", "unsettled")

    def __init__(self, client: str | None, order: int) -> None:
        self.client = client
        self.order = order
        # delivery -> [trace index of its first transfer, time, message id, settled, done];
        # dropped once settled and complete, or once a later connection sent its id again:
        # only deliveries in flight (and those left unsettled at a cut) are held
        self.unsettled: dict[_Delivery, list[Any]] = {}
        self.endings: list[tuple[int, str]] = []  # (index, how): close, cut, tcp


_INDEX, _T, _ID, _SETTLED, _DONE = range(5)  # positions in a delivery's list


class SettledOrResent(Rule):
    """At-least-once: an unsettled message a client sent is settled, or after its
    connection is lost, sent again (same message id) on a later connection of
    the same client.

    A disposition settles what was transferred before it (the tap sees the
    settlement only after the transfer it answers); a delivery settled before
    its last frame is dropped when that frame comes.
    """

    id = "settled-or-resent"
    frames = frozenset({"transfer", "disposition", "close"})
    conn_events = True

    def start(self) -> None:
        self.conns: dict[str, _Conn] = {}
        # (client, message id) -> {connection: its deliveries}: who holds an unsettled copy
        self.holders: dict[tuple[str | None, Any], dict[str, list[_Delivery]]] = {}
        # (client, message id) -> the latest connection number that sent it, kept only for ids
        # sent while an earlier connection of the client was still up (overlapping connections)
        self.sent_while_open: dict[tuple[str | None, Any], int] = {}

    def _conn(self, conn: str) -> _Conn:
        c = self.conns.get(conn)
        if c is None:
            client = self.ctx.labels.get(conn, (None, None))[0]
            c = self.conns[conn] = _Conn(client, self.ctx.order[conn])
        return c

    def conn_event(self, i: int, e: TraceEvent) -> None:
        if e.name in ("close", "cut") and e.conn is not None:
            self._ended(i, e)

    def frame(self, i: int, e: TraceEvent) -> None:
        if e.name == "close":
            self._ended(i, e)
        elif e.name == "transfer":
            self._transfer(i, e)
        else:
            self._disposition(e)

    def _ended(self, i: int, e: TraceEvent) -> None:
        assert e.conn is not None
        c = self._conn(e.conn)
        found = ending_of(e)
        if found is not None:
            c.endings.append((i, found[0]))

    def _transfer(self, i: int, e: TraceEvent) -> None:
        assert e.conn is not None
        c = self._conn(e.conn)
        dk = self.ctx.dk
        if e.src != c.client or dk is None:
            return
        d = c.unsettled.get(dk)
        if d is None:
            d = c.unsettled[dk] = [i, e.t, None, False, False]
        msg_id = e.get("message__id")
        if msg_id is not None:
            d[_ID] = msg_id
            self._sent(c, e.conn, dk, _hashable(msg_id))
        if e.fields.get("settled"):
            d[_SETTLED] = True
        d[_DONE] = not e.fields.get("more") or bool(e.fields.get("aborted"))
        if d[_SETTLED] and d[_DONE]:
            self._drop(c, e.conn, dk)

    def _sent(self, c: _Conn, conn: str, dk: _Delivery, msg_id: Any) -> None:
        """Message ``msg_id`` went out on ``conn``: earlier connections' copies are resent."""
        key = (c.client, msg_id)
        holders = self.holders.setdefault(key, {})
        for other in [o for o in holders if self.conns[o].order < c.order]:
            for odk in holders.pop(other):
                self.conns[other].unsettled.pop(odk, None)
        if self.sent_while_open.get(key, -1) > c.order:
            c.unsettled.pop(dk, None)  # a later connection sent it already
        else:
            mine = holders.setdefault(conn, [])
            if dk not in mine:
                mine.append(dk)
            live = self.ctx.live.get(c.client, ())
            if any(self.ctx.order[o] < c.order for o in live):
                self.sent_while_open[key] = max(self.sent_while_open.get(key, -1), c.order)
        if not holders:
            del self.holders[key]

    def _drop(self, c: _Conn, conn: str, dk: _Delivery) -> None:
        d = c.unsettled.pop(dk, None)
        if d is None or d[_ID] is None:
            return
        key = (c.client, _hashable(d[_ID]))
        holders = self.holders.get(key, {})
        mine = holders.get(conn)
        if mine is not None and dk in mine:
            mine.remove(dk)
            if not mine:
                del holders[conn]
            if not holders:
                del self.holders[key]

    def _disposition(self, e: TraceEvent) -> None:
        span = disposition_range(e)
        if span is None or not (e.fields.get("settled") or e.fields.get("state")):
            return
        assert e.conn is not None
        c = self._conn(e.conn)
        sender = e.src if e.fields.get("role") == "sender" else e.dst
        sid = self.ctx.sid
        for did in range(span[0], span[1] + 1):
            dk = (sid, sender, did)
            d = c.unsettled.get(dk)
            if d is None:
                continue
            if d[_DONE]:
                self._drop(c, e.conn, dk)
            else:
                d[_SETTLED] = True

    def finish(self) -> None:
        for conn, c in self.conns.items():
            lost = sorted(
                (d for d in c.unsettled.values() if not d[_SETTLED] and d[_ID] is not None),
                key=lambda d: d[_INDEX],
            )
            if not lost:
                continue
            ids = ", ".join(repr(d[_ID]) for d in lost[:20]) + (" ..." if len(lost) > 20 else "")
            how = next((h for j, h in c.endings if j > lost[-1][_INDEX]), "open")
            ended = {"close": "closed", "cut": "cut", "tcp": "lost", "open": "still open"}[how]
            self.report(
                f"{conn}: {len(lost)} unsettled message(s) from {c.client} not sent again on a "
                f"later connection (connection {ended}): ids {ids}",
                lost[0][_INDEX],
                lost[0][_T],
                conn,
                c.client,
            )


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, dict | list) else value
