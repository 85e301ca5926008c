"""At-least-once across reconnects: an unsettled message is settled or sent again (3.4).

A client that loses its connection with messages unsettled must send them
again on a later connection (same message id); the trace holds every
connection of the cell, so the rule can follow a message id across them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.trace.rules.base import TraceInfo, Violation, disposition_range

__all__ = ["settled_or_resent"]

# a delivery: (session, sending side, delivery id), as in LinkIndex.delivery_of
_Delivery = tuple[Any, ...]


# what the rule keeps of a delivery not yet settled: [trace index of its first transfer,
# message id, settled, last frame seen]; a list, not a dict, and dropped once it is settled
# and complete: a 100,000-message trace has hundreds of thousands of deliveries, but only
# those in flight at a time (and the unsettled ones at a cut) are held
_ID, _SETTLED, _DONE = 1, 2, 3  # positions in that list (0 is the index)


class _Sent:
    """What each client sent on each connection, and which of it was never settled."""

    def __init__(self, info: TraceInfo) -> None:
        self.order = {c: n for n, c in enumerate(info.conns)}
        # (client label, message id) -> the latest connection (order number) it was sent on:
        # all the rule asks is whether a later connection than a given one carried it
        self.last_sent_on: dict[tuple[str | None, Any], int] = {}
        # connection -> delivery -> [index, id, settled, done], for deliveries still unsettled
        self.per_conn: dict[str, dict[_Delivery, list[Any]]] = {}
        for conn in info.conns:
            self.per_conn[conn] = self._read(info, conn)

    def _read(self, info: TraceInfo, conn: str) -> dict[_Delivery, list[Any]]:
        """One connection's client deliveries that no frame settled.

        A disposition settles what was transferred before it (the tap sees the
        settlement only after the transfer it answers); a delivery settled
        before its last frame is dropped when that frame comes.
        """
        idx = info.links
        client, _server = info.labels[conn]
        order = self.order[conn]
        deliveries: dict[_Delivery, list[Any]] = {}
        for i, e in info.frames(conn):
            if e.name == "transfer" and e.src == client:
                dk = idx.delivery_of.get(i)
                if dk is None:
                    continue
                d = deliveries.get(dk)
                if d is None:
                    d = deliveries[dk] = [i, None, False, False]
                msg_id = e.get("message__id")
                if msg_id is not None:
                    d[_ID] = msg_id
                    key = (client, _hashable(msg_id))
                    if self.last_sent_on.get(key, -1) < order:
                        self.last_sent_on[key] = order
                if e.fields.get("settled"):
                    d[_SETTLED] = True
                d[_DONE] = not e.fields.get("more") or bool(e.fields.get("aborted"))
                if d[_SETTLED] and d[_DONE]:
                    del deliveries[dk]
            elif e.name == "disposition":
                span = disposition_range(e)
                if span is None or not (e.fields.get("settled") or e.fields.get("state")):
                    continue
                sender = e.src if e.fields.get("role") == "sender" else e.dst
                sid = idx.session_of.get(i)
                for did in range(span[0], span[1] + 1):
                    d = deliveries.get((sid, sender, did))
                    if d is None:
                        continue
                    if d[_DONE]:
                        del deliveries[(sid, sender, did)]
                    else:
                        d[_SETTLED] = True
        return deliveries

    def lost(self, conn: str, client: str | None) -> list[tuple[int, Any]]:
        """(index, message id) of unsettled messages never sent on a later connection."""
        lost: list[tuple[int, Any]] = []
        for index, msg_id, settled, _done in self.per_conn[conn].values():
            if settled or msg_id is None:
                continue
            if self.last_sent_on.get((client, _hashable(msg_id)), -1) <= self.order[conn]:
                lost.append((index, msg_id))
        return sorted(lost, key=lambda x: x[0])


def settled_or_resent(info: TraceInfo) -> Iterator[Violation]:
    """At-least-once: an unsettled message a client sent is settled, or after its
    connection is lost, sent again (same message id) on a later connection of
    the same client."""
    rule = "settled-or-resent"
    sent = _Sent(info)
    for conn in info.conns:
        client, _ = info.labels[conn]
        lost = sent.lost(conn, client)
        if not lost:
            continue
        ids = ", ".join(repr(m) for _, m in lost[:20]) + (" ..." if len(lost) > 20 else "")
        how, _by, _j = info.ending(conn, lost[-1][0])
        ended = {"close": "closed", "cut": "cut", "tcp": "lost", "open": "still open"}[how]
        yield info.v(
            rule,
            f"{conn}: {len(lost)} unsettled message(s) from {client} not sent again on a "
            f"later connection (connection {ended}): ids {ids}",
            lost[0][0],
            conn,
        )


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, dict | list) else value
