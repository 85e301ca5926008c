"""Fault rules: what the tap does to a connection at a protocol point.

A rule watches the frames one tap decodes and, at the moment it describes
("after the 3rd transfer from the sender", "before the disposition that
settles delivery 500"), asks the tap to act: cut the TCP connection, hold a
frame back for a while, or call the harness (a broker restart). Rules are
sans-IO: they see frames and return actions; the tap carries them out.

Counts are per tap and survive reconnects, so "after the 300th transfer"
means the 300th transfer this peer sent in the whole cell, and a rule fires
once unless it says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Cut:
    """Close both sides of the connection; ``before`` withholds the triggering frame."""

    before: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Delay:
    """Hold the triggering frame (and everything after it on that direction) for ``seconds``."""

    seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class Call:
    """Ask the harness to do something (``what``: "restart-broker"); forwarding goes on."""

    what: str
    reason: str


Action = Cut | Delay | Call


@dataclass
class FrameView:
    """What a rule is shown of one frame: who sent it and what it was."""

    conn: str
    src: str
    dst: str
    name: str
    fields: dict[str, Any]


class Rule:
    """Base: ``on_frame`` returns an action or None. ``fired`` counts actions taken."""

    text: str = ""

    def __init__(self) -> None:
        self.fired = 0

    def on_frame(self, frame: FrameView) -> Action | None:  # pragma: no cover - interface
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text


class CutAfter(Rule):
    """Cut after the ``k``-th frame named ``name`` sent by ``src`` (counted across reconnects)."""

    def __init__(self, name: str, k: int, src: str, before: bool = False) -> None:
        super().__init__()
        if k < 1:
            raise ValueError("k must be >= 1")
        self.name, self.k, self.src, self.before = name, k, src, before
        self.seen = 0
        where = "before" if before else "after"
        self.text = f"cut {where} {name} #{k} from {src}"

    def on_frame(self, frame: FrameView) -> Action | None:
        if frame.src != self.src or frame.name != self.name:
            return None
        if self.name == "transfer" and frame.fields.get("more"):
            return None  # count whole deliveries, not frames of one
        self.seen += 1
        if self.seen == self.k and not self.fired:
            self.fired += 1
            return Cut(before=self.before, reason=self.text)
        return None


class CutBeforeSettle(Rule):
    """Cut just before the disposition (from ``src``) that settles the ``k``-th delivery.

    Dispositions may cover a range (first..last), so the count is of deliveries
    settled, not of frames: the frame that would bring the total to ``k`` is
    withheld, leaving those deliveries unsettled on the other side.
    """

    def __init__(self, k: int, src: str) -> None:
        super().__init__()
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k, self.src = k, src
        self.settled = 0
        self.text = f"cut before the disposition of delivery #{k} from {src}"

    def on_frame(self, frame: FrameView) -> Action | None:
        if frame.src != self.src or self.fired:
            return None
        if frame.name == "disposition":
            if not frame.fields.get("settled"):
                return None  # a state update settles nothing
            first = frame.fields.get("first") or 0
            last = frame.fields.get("last")
            n = 1 if last is None else max(1, int(last) - int(first) + 1)
            if self.settled + n >= self.k:
                self.fired += 1
                return Cut(before=True, reason=self.text)
            self.settled += n
        return None


class DelayFrames(Rule):
    """Hold frames named ``name`` from ``src`` for ``seconds`` (the first ``times`` of them)."""

    def __init__(self, name: str, seconds: float, src: str | None = None, times: int = 1) -> None:
        super().__init__()
        self.name, self.seconds, self.src, self.times = name, seconds, src, times
        self.text = f"delay {name} from {src or 'anyone'} by {seconds:g} s (x{times})"

    def on_frame(self, frame: FrameView) -> Action | None:
        if frame.name != self.name or (self.src and frame.src != self.src):
            return None
        if self.fired >= self.times:
            return None
        self.fired += 1
        return Delay(self.seconds, self.text)


class RestartAfter(Rule):
    """Ask the harness to restart the broker after the ``k``-th delivery sent by ``src``."""

    def __init__(self, k: int, src: str) -> None:
        super().__init__()
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k, self.src = k, src
        self.seen = 0
        self.text = f"restart the broker after transfer #{k} from {src}"

    def on_frame(self, frame: FrameView) -> Action | None:
        if frame.src != self.src or frame.name != "transfer" or frame.fields.get("more"):
            return None
        self.seen += 1
        if self.seen == self.k and not self.fired:
            self.fired += 1
            return Call("restart-broker", self.text)
        return None
