"""Settlement modes: what a link's attaches promise about settling, and whether transfers keep it.

``settle-mode`` (every trace, AMQP 1.0 2.7.5 and 2.8.2): a sender whose
attach declared snd-settle-mode ``unsettled`` never sends a settled
transfer, and one that declared ``settled`` settles every delivery.
``mixed`` (the default) allows both, so a broker that delivers pre-settled
to a receiver that left the default is within the spec.

``unsettled-receive`` (at-least-once): a message delivered pre-settled is
gone the moment it is sent, so a receiver that must not lose messages asks
for ``unsettled`` in its attach (2.7.3), and the broker, as the sender,
should keep to what the receiver asked. A receiver that never asked is
blamed; a broker that answers ``settled`` or settles a delivery anyway is
blamed, naming its attach or transfer.
"""

from __future__ import annotations

from harness.trace.model import TraceEvent
from harness.trace.render import SND_SETTLE
from harness.trace.rules.base import Rule, describe_frame
from harness.trace.topology import LinkInfo, LinkKey

__all__ = ["SettleMode", "UnsettledReceive"]

UNSETTLED, SETTLED, MIXED = 0, 1, 2


def _mode(e: TraceEvent) -> int:
    """An attach's snd-settle-mode (absent: ``mixed``, the spec's default)."""
    value = e.fields.get("snd_settle_mode")
    return value if value in (UNSETTLED, SETTLED, MIXED) else MIXED


def _name(mode: int) -> str:
    return SND_SETTLE.get(mode, str(mode))


class _Link:
    """One link as the settlement rules follow it: the delivery its sender is sending."""

    __slots__ = ("current", "declared", "done")

    def __init__(self) -> None:
        self.current: tuple[int, TraceEvent, bool] | None = None  # (index, first frame, settled)
        self.declared: tuple[int, float] | None = None  # settle-mode: (mode, attach time)
        self.done = False  # unsettled-receive: reported once per link

    def delivery(self, i: int, e: TraceEvent) -> tuple[int, TraceEvent, bool] | None:
        """Take a transfer from the link's sender: (index, first frame, settled on any
        frame) of the delivery it finished (None while it goes on, or when aborted)."""
        cur = self.current
        if cur is None:
            cur = (i, e, False)
        cur = (cur[0], cur[1], cur[2] or bool(e.fields.get("settled")))
        if e.fields.get("aborted") or not e.fields.get("more"):
            self.current = None
            return None if e.fields.get("aborted") else cur
        self.current = cur
        return None


class _LinkRule(Rule):
    """A rule that follows each link's attaches and its sender's deliveries."""

    frames = frozenset({"attach", "transfer"})

    def start(self) -> None:
        self.links: dict[LinkKey, _Link] = {}

    def frame(self, i: int, e: TraceEvent) -> None:
        for key in self.ctx.keys:
            state = self.links.get(key)
            if state is None:
                state = self.links[key] = _Link()
            link = self.ctx.tracker.links[key]
            if e.name == "attach":
                state.current = None
                self.attach(i, e, link, state)
            elif e.src == link.sender:
                found = state.delivery(i, e)
                if found is not None:
                    self.delivered(found, link, state)

    def attach(self, i: int, e: TraceEvent, link: LinkInfo, state: _Link) -> None:
        """An attach of the link, from either side."""

    def delivered(self, found: tuple[int, TraceEvent, bool], link: LinkInfo, st: _Link) -> None:
        """A delivery the link's sender finished: (index, first frame, settled)."""


class SettleMode(_LinkRule):
    """Transfers keep the snd-settle-mode their sender declared in its attach."""

    id = "settle-mode"

    def attach(self, i: int, e: TraceEvent, link: LinkInfo, state: _Link) -> None:
        if e.src == link.sender:
            state.declared = (_mode(e), e.t)

    def delivered(self, found: tuple[int, TraceEvent, bool], link: LinkInfo, st: _Link) -> None:
        i, e, settled = found
        if st.declared is None or st.declared[0] == MIXED:
            return
        mode, at = st.declared
        if (mode == UNSETTLED and settled) or (mode == SETTLED and not settled):
            how = "a settled" if settled else "an unsettled"
            self.at(
                f"{describe_frame(e)}: {how} delivery on link {link.name}, whose "
                f"sender declared snd-settle-mode {_name(mode)} in its attach at {at:.3f}",
                i,
                e,
            )


class UnsettledReceive(_LinkRule):
    """A peer receiving from the broker asks for unsettled deliveries, and gets them."""

    id = "unsettled-receive"

    def start(self) -> None:
        super().start()
        # per link: what the receiver's latest attach asked for, and the answer
        self.asked: dict[LinkKey, tuple[int | None, int | None]] = {}

    def _watched(self, link: LinkInfo, state: _Link) -> bool:
        """A link from the connection's server to its client, not reported on yet."""
        client, server = self.ctx.labels.get(link.conn, (None, None))
        return not state.done and link.receiver == client and link.sender == server

    def attach(self, i: int, e: TraceEvent, link: LinkInfo, state: _Link) -> None:
        if not self._watched(link, state):
            return
        asked, answered = self.asked.get(link.key, (None, None))
        if e.src == link.receiver:
            asked, answered = _mode(e), None
            self.asked[link.key] = (asked, answered)
            if asked != UNSETTLED:
                state.done = True  # once per link: every later finding follows from it
                self.at(
                    f"{describe_frame(e)}: the receiver asked for snd-settle-mode "
                    f"{_name(asked)}, not unsettled: the broker may deliver pre-settled, and "
                    "a message settled on the way is lost with the connection",
                    i,
                    e,
                )
            return
        answered = _mode(e)
        self.asked[link.key] = (asked, answered)
        if asked == UNSETTLED and answered == SETTLED:
            state.done = True
            self.at(
                f"{describe_frame(e)}: answered snd-settle-mode settled to a receiver that "
                "asked for unsettled (the sender SHOULD respect the receiver's mode)",
                i,
                e,
            )

    def delivered(self, found: tuple[int, TraceEvent, bool], link: LinkInfo, st: _Link) -> None:
        i, e, settled = found
        if not settled or not self._watched(link, st):
            return
        if self.asked.get(link.key) == (UNSETTLED, MIXED):
            st.done = True
            self.at(
                f"{describe_frame(e)}: a pre-settled delivery on link {link.name} to a "
                "receiver that asked for unsettled (the attach answered mixed): the message "
                "is lost if the connection drops before it is processed",
                i,
                e,
            )
