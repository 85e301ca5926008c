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
    TraceInfo,
    Violation,
    as_int,
    channel_of,
    describe_frame,
    sdiff,
)

__all__ = ["close_last", "delivery_id_order", "detach_before_close", "open_first"]


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


def open_first(info: TraceInfo) -> Iterator[Violation]:
    """open, then begin on a channel, then attach of a handle, then transfers on it."""
    rule = "open-first"
    for conn in info.conns:
        opened: set[str | None] = set()
        unopened: set[str | None] = set()
        sides: dict[str | None, _SideOrder] = {}
        for i, e in info.frames(conn):
            side = e.src
            name = e.name
            if name == "empty" or name.startswith("sasl_") or name == "close":
                continue
            if name == "open":
                if side in opened:
                    yield info.v(rule, f"{describe_frame(e)}: {side} sent a second open", i, conn)
                opened.add(side)
                continue
            if side not in opened and side not in unopened:
                yield info.v(rule, f"{describe_frame(e)} before {side}'s open", i, conn)
                unopened.add(side)  # report once per side
            for message in sides.setdefault(side, _SideOrder()).see(e):
                yield info.v(rule, message, i, conn)


def close_last(info: TraceInfo) -> Iterator[Violation]:
    """Nothing but heartbeats from a side after its close."""
    rule = "close-last"
    for conn in info.conns:
        closed: dict[str | None, int] = {}
        for i, e in info.frames(conn):
            if e.src in closed:
                if e.name != "empty":
                    at = info.events[closed[e.src]].t
                    message = f"{describe_frame(e)} after {e.src}'s close at {at:.3f}"
                    yield info.v(rule, message, i, conn)
            elif e.name == "close":
                closed[e.src] = i


def delivery_id_order(info: TraceInfo) -> Iterator[Violation]:
    """Delivery ids increase per session and direction; the frames of one
    multi-frame delivery repeat its id or omit it."""
    rule = "delivery-id-order"
    for conn in info.conns:
        last: dict[tuple[str | None, int], int] = {}
        current: dict[tuple[str | None, int, Any], int | None] = {}
        for i, e in info.frames(conn):
            ch = channel_of(e)
            if e.name in ("begin", "end"):
                last.pop((e.src, ch), None)
                continue
            if e.name != "transfer":
                continue
            did = as_int(e.fields.get("delivery_id"))
            hk = (e.src, ch, e.fields.get("handle"))
            more = bool(e.fields.get("more")) and not e.fields.get("aborted")
            if hk in current:
                cur = current[hk]
                if did is not None and cur is not None and did != cur:
                    yield info.v(
                        rule,
                        f"{describe_frame(e)}: continues delivery {cur} but carries delivery_id {did}",
                        i,
                        conn,
                    )
                if not more:
                    del current[hk]
                continue
            if more:
                current[hk] = did
            if did is None:
                message = f"{describe_frame(e)}: first transfer without a delivery_id"
                yield info.v(rule, message, i, conn)
                continue
            prev = last.get((e.src, ch))
            if prev is not None and sdiff(did, prev) <= 0:
                yield info.v(
                    rule,
                    f"{describe_frame(e)}: delivery_id {did} does not increase (previous {prev} "
                    f"from {e.src} on channel {ch})",
                    i,
                    conn,
                )
            last[(e.src, ch)] = did


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


def detach_before_close(info: TraceInfo) -> Iterator[Violation]:
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
