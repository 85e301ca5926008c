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


class _Sent:
    """What each client sent on each connection, and which deliveries were settled."""

    def __init__(self, info: TraceInfo) -> None:
        self.order = {c: n for n, c in enumerate(info.conns)}
        # (client label, message id) -> connection order numbers it was sent on
        self.sent_on: dict[tuple[str | None, Any], set[int]] = {}
        # connection -> delivery -> {"index", "id", "settled"}
        self.per_conn: dict[str, dict[_Delivery, dict[str, Any]]] = {}
        self.settled: set[_Delivery] = set()
        for conn in info.conns:
            self.per_conn[conn] = self._read(info, conn)

    def _read(self, info: TraceInfo, conn: str) -> dict[_Delivery, dict[str, Any]]:
        idx = info.links
        client, _server = info.labels[conn]
        deliveries: dict[_Delivery, dict[str, Any]] = {}
        for i, e in info.frames(conn):
            if e.name == "transfer" and e.src == client:
                dk = idx.delivery_of.get(i)
                if dk is None:
                    continue
                d = deliveries.setdefault(dk, {"index": i, "id": None, "settled": False})
                msg_id = e.get("message__id")
                if msg_id is not None:
                    d["id"] = msg_id
                    key = (client, _hashable(msg_id))
                    self.sent_on.setdefault(key, set()).add(self.order[conn])
                if e.fields.get("settled"):
                    d["settled"] = True
            elif e.name == "disposition":
                span = disposition_range(e)
                if span is None or not (e.fields.get("settled") or e.fields.get("state")):
                    continue
                sender = e.src if e.fields.get("role") == "sender" else e.dst
                sid = idx.session_of.get(i)
                for did in range(span[0], span[1] + 1):
                    self.settled.add((sid, sender, did))
        return deliveries

    def lost(self, conn: str, client: str | None) -> list[tuple[int, Any]]:
        """(index, message id) of unsettled messages never sent on a later connection."""
        lost: list[tuple[int, Any]] = []
        for dk, d in self.per_conn[conn].items():
            if d["settled"] or d["id"] is None or dk in self.settled:
                continue
            sent = self.sent_on.get((client, _hashable(d["id"])), ())
            if not [n for n in sent if n > self.order[conn]]:
                lost.append((d["index"], d["id"]))
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
