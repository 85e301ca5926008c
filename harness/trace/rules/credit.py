"""Flow control: no transfer starts a delivery beyond the link credit granted (2.6.7).

The tap sees both sides' flows, so it can replay the link's credit the way
the sender should: the receiver's delivery-count plus link-credit is the
limit, the sender's delivery-count must stay below it. Kept as a small state
object per link with one method per performative that moves it, fed one
frame at a time as the trace passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.trace.model import TraceEvent
from harness.trace.rules.base import SERIAL, Rule, as_int, describe_frame, sdiff
from harness.trace.topology import LinkInfo, LinkKey

__all__ = ["Credit"]


@dataclass
class _Credit:
    """One link's credit as the tap replays it."""

    sender_dc: int | None = None  # from the sender's attach / flows
    initial: int | None = None
    limit: int | None = None  # highest delivery-count + link-credit granted
    limit_t: float | None = None  # when the flow that granted it came
    null_credit: int | None = None  # largest credit granted before the sender's count was known
    null_t: float | None = None
    in_progress: bool = False

    def attach(self, e: TraceEvent, from_sender: bool) -> None:
        if from_sender:
            initial = as_int(e.fields.get("initial_delivery_count")) or 0
            self.initial = self.sender_dc = initial
            self.in_progress = False
        else:  # a (re)attach from the receiver: credit starts afresh
            self.limit = self.limit_t = self.null_credit = self.null_t = None

    def flow(self, e: TraceEvent, from_sender: bool) -> None:
        if from_sender:
            dc = as_int(e.fields.get("delivery_count"))
            if dc is not None:
                self.sender_dc = dc
            return
        credit = as_int(e.fields.get("link_credit"))
        if credit is None:
            return
        dc = as_int(e.fields.get("delivery_count"))
        if dc is None and self.initial is None:
            if self.null_credit is None or credit >= self.null_credit:
                self.null_credit, self.null_t = credit, e.t
            return
        new = ((dc if dc is not None else self.initial or 0) + credit) % SERIAL
        if self.limit is None or sdiff(new, self.limit) >= 0:
            self.limit, self.limit_t = new, e.t

    def granted(self) -> tuple[int | None, float | None]:
        """The highest limit granted so far and when the flow that granted it came."""
        limit, limit_t = self.limit, self.limit_t
        if self.null_credit is not None:
            alt = ((self.initial or 0) + self.null_credit) % SERIAL
            if limit is None or sdiff(alt, limit) > 0:
                limit, limit_t = alt, self.null_t
        return limit, limit_t

    def transfer(self, e: TraceEvent, link: LinkInfo) -> str | None:
        """Count a transfer from the sender; what is wrong with it, if anything."""
        if self.in_progress:  # a continuation frame of a delivery already counted
            self.in_progress = bool(e.fields.get("more")) and not e.fields.get("aborted")
            return None
        self.in_progress = bool(e.fields.get("more")) and not e.fields.get("aborted")
        if self.sender_dc is None:
            self.sender_dc = self.initial or 0
        limit, limit_t = self.granted()
        problem = None
        if limit is None:
            problem = (
                f"{describe_frame(e)} on link {link.name} before any credit from {link.receiver}"
            )
        elif sdiff(limit, self.sender_dc) <= 0:
            at = limit_t if limit_t is not None else 0.0
            problem = (
                f"{describe_frame(e)} on link {link.name} beyond credit: delivery-count "
                f"{self.sender_dc}, limit {limit} granted by {link.receiver} at {at:.3f}"
            )
        self.sender_dc = (self.sender_dc + 1) % SERIAL
        return problem


class Credit(Rule):
    """No transfer starts a delivery beyond the link credit the receiver granted.

    The limit is the receiver's delivery-count plus link-credit (a null count
    means the sender's initial-delivery-count). The highest limit granted is
    kept: the tap sees a credit *reduction* before the sender does, so
    transfers already in flight would be flagged unfairly.
    """

    id = "credit"
    frames = frozenset({"attach", "flow", "transfer"})

    def start(self) -> None:
        self.state: dict[LinkKey, _Credit] = {}

    def frame(self, i: int, e: TraceEvent) -> None:
        keys = self.ctx.keys
        if not keys:
            return
        link = self.ctx.tracker.links[keys[0]]
        st = self.state.get(keys[0])
        if st is None:
            st = self.state[keys[0]] = _Credit()
        from_sender = e.src == link.sender
        if e.name == "attach":
            st.attach(e, from_sender)
        elif e.name == "flow":
            st.flow(e, from_sender)
        elif from_sender:
            problem = st.transfer(e, link)
            if problem is not None:
                self.at(problem, i, e)
