"""Rules on the order of frames on one connection (AMQP 1.0 part 2.4-2.7).

A side opens before anything else, begins a session on a channel before
using it, attaches a handle before sending on it, sends only heartbeats
after its close, and numbers deliveries upwards within a session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.trace.basis import BROKER
from harness.trace.model import TraceEvent
from harness.trace.rules.base import (
    Rule,
    StoryRule,
    TraceInfo,
    Violation,
    as_int,
    channel_of,
    describe_frame,
    sdiff,
)

__all__ = ["CloseLast", "DeliveryIdOrder", "DetachBeforeClose", "OpenFirst"]


class _SideOrder:
    """What one side of a connection has opened so far: channels begun, handles attached."""

    def __init__(self) -> None:
        self.began: set[int] = set()
        self.attached: set[tuple[int, int]] = set()

    def see(self, e: TraceEvent) -> list[str]:
        """Record a frame after the open; what it did out of order."""
        side, name, ch = e.src, e.name, channel_of(e)
        if name == "begin":
            self.began.add(ch)
            return []
        out = []
        if ch not in self.began:
            out.append(f"{describe_frame(e)} before {side}'s begin on channel {ch}")
            self.began.add(ch)
        handle = as_int(e.fields.get("handle"))
        if name == "end":
            self.began.discard(ch)
            self.attached.difference_update({h for h in self.attached if h[0] == ch})
        elif name == "attach":
            if handle is not None:
                self.attached.add((ch, handle))
        elif name in ("transfer", "detach") or (name == "flow" and handle is not None):
            if handle is not None and (ch, handle) not in self.attached:
                out.append(f"{describe_frame(e)} before {side}'s attach of handle {handle}")
                self.attached.add((ch, handle))
            if name == "detach" and handle is not None:
                self.attached.discard((ch, handle))
        return out


class OpenFirst(Rule):
    """open, then begin on a channel, then attach of a handle, then transfers on it."""

    id = "open-first"

    def start(self) -> None:
        self.opened: set[tuple[str | None, str | None]] = set()  # (conn, side)
        self.unopened: set[tuple[str | None, str | None]] = set()
        self.sides: dict[tuple[str | None, str | None], _SideOrder] = {}

    def frame(self, i: int, e: TraceEvent) -> None:
        name = e.name
        if name == "empty" or name == "close" or name.startswith("sasl_"):
            return
        who = (e.conn, e.src)
        if name == "open":
            if who in self.opened:
                self.at(f"{describe_frame(e)}: {e.src} sent a second open", i, e)
            self.opened.add(who)
            return
        if who not in self.opened and who not in self.unopened:
            self.at(f"{describe_frame(e)} before {e.src}'s open", i, e)
            self.unopened.add(who)  # report once per side
        order = self.sides.get(who)
        if order is None:
            order = self.sides[who] = _SideOrder()
        for message in order.see(e):
            self.at(message, i, e)


class CloseLast(Rule):
    """Nothing but heartbeats from a side after its close."""

    id = "close-last"

    def start(self) -> None:
        self.closed: dict[tuple[str | None, str | None], float] = {}  # (conn, side) -> when

    def frame(self, i: int, e: TraceEvent) -> None:
        at = self.closed.get((e.conn, e.src))
        if at is not None:
            if e.name != "empty":
                self.at(f"{describe_frame(e)} after {e.src}'s close at {at:.3f}", i, e)
        elif e.name == "close":
            self.closed[(e.conn, e.src)] = e.t


class DeliveryIdOrder(Rule):
    """Delivery ids increase per session and direction; the frames of one
    multi-frame delivery repeat its id or omit it."""

    id = "delivery-id-order"
    frames = frozenset({"begin", "end", "transfer"})

    def start(self) -> None:
        self.last: dict[tuple[str | None, str | None, int], int] = {}
        self.current: dict[tuple[str | None, str | None, int, Any], int | None] = {}

    def frame(self, i: int, e: TraceEvent) -> None:
        ch = channel_of(e)
        if e.name != "transfer":  # a begin or end: ids start afresh
            self.last.pop((e.conn, e.src, ch), None)
            return
        did = as_int(e.fields.get("delivery_id"))
        hk = (e.conn, e.src, ch, e.fields.get("handle"))
        more = bool(e.fields.get("more")) and not e.fields.get("aborted")
        if hk in self.current:
            cur = self.current[hk]
            if did is not None and cur is not None and did != cur:
                message = (
                    f"{describe_frame(e)}: continues delivery {cur} but carries delivery_id {did}"
                )
                self.at(message, i, e)
            if not more:
                del self.current[hk]
            return
        if more:
            self.current[hk] = did
        if did is None:
            self.at(f"{describe_frame(e)}: first transfer without a delivery_id", i, e)
            return
        prev = self.last.get((e.conn, e.src, ch))
        if prev is not None and sdiff(did, prev) <= 0:
            self.at(
                f"{describe_frame(e)}: delivery_id {did} does not increase (previous {prev} "
                f"from {e.src} on channel {ch})",
                i,
                e,
            )
        self.last[(e.conn, e.src, ch)] = did


def _still_attached(info: TraceInfo, conn: str, side: str | None, until: int) -> dict:
    """(channel, handle) -> attach index of the links ``side`` had attached before ``until``."""
    attached: dict[tuple[int, int], int] = {}
    for i, e in info.frames(conn):
        if i >= until:
            break
        if e.src != side:
            continue
        ch = channel_of(e)
        handle = as_int(e.fields.get("handle"))
        if e.name == "attach" and handle is not None:
            attached[(ch, handle)] = i
        elif e.name == "detach" and handle is not None:
            attached.pop((ch, handle), None)
        elif e.name == "end":
            for k in [k for k in attached if k[0] == ch]:
                del attached[k]
    return attached


def _detach_before_close(info: TraceInfo) -> Iterator[Violation]:
    """The side that closes a connection cleanly first detaches the links it attached.

    Only the side whose close comes first, without an error, is held to this;
    ending a session counts as letting go of its links. It is the tutorial's
    habit, not an AMQP rule (2.4.3: a close ends every link), so a broker is
    never held to it.
    """
    rule = "detach-before-close"
    for conn in info.conns:
        first_close = next((i for i, e in info.frames(conn) if e.name == "close"), None)
        if first_close is None:
            continue
        closing = info.events[first_close]
        if closing.fields.get("error"):
            continue
        side = closing.src
        if side == BROKER:
            continue
        attached = _still_attached(info, conn, side, first_close)
        for (_, handle), i in sorted(attached.items(), key=lambda kv: kv[1]):
            name = info.events[i].fields.get("name")
            yield info.v(
                rule,
                f"{conn}: {side} closed the connection at {closing.t:.3f} with link {name} "
                f"(handle {handle}) still attached",
                first_close,
                conn,
            )


class DetachBeforeClose(StoryRule):
    """A peer that closes cleanly detaches its links first (read from the story)."""

    id = "detach-before-close"
    check = staticmethod(_detach_before_close)
