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

from collections.abc import Iterator

from harness.trace.model import TraceEvent
from harness.trace.render import SND_SETTLE
from harness.trace.rules.base import TraceInfo, Violation, describe_frame
from harness.trace.topology import LinkInfo

__all__ = ["settle_mode", "unsettled_receive"]

UNSETTLED, SETTLED, MIXED = 0, 1, 2


def _mode(e: TraceEvent) -> int:
    """An attach's snd-settle-mode (absent: ``mixed``, the spec's default)."""
    value = e.fields.get("snd_settle_mode")
    return value if value in (UNSETTLED, SETTLED, MIXED) else MIXED


def _name(mode: int) -> str:
    return SND_SETTLE.get(mode, str(mode))


def _deliveries(info: TraceInfo, link: LinkInfo) -> Iterator[tuple[int, TraceEvent, bool]]:
    """(index, first frame, settled on any frame) of each delivery the link's sender
    finished (aborted ones left out), and each attach as (index, attach, False)."""
    current: tuple[int, TraceEvent, bool] | None = None
    for i in link.indices:
        e = info.events[i]
        if e.name == "attach":
            current = None
            yield i, e, False
        elif e.name == "transfer" and e.src == link.sender:
            if current is None:
                current = (i, e, False)
            current = (current[0], current[1], current[2] or bool(e.fields.get("settled")))
            if e.fields.get("aborted"):
                current = None
            elif not e.fields.get("more"):
                yield current
                current = None


def settle_mode(info: TraceInfo) -> Iterator[Violation]:
    """Transfers keep the snd-settle-mode their sender declared in its attach."""
    rule = "settle-mode"
    for conn in info.conns:
        for link in info.links.links_of(conn):
            declared: tuple[int, int] | None = None  # (mode, attach index)
            for i, e, settled in _deliveries(info, link):
                if e.name == "attach":
                    if e.src == link.sender:
                        declared = (_mode(e), i)
                    continue
                if declared is None or declared[0] == MIXED:
                    continue
                mode, at = declared
                if (mode == UNSETTLED and settled) or (mode == SETTLED and not settled):
                    how = "a settled" if settled else "an unsettled"
                    yield info.v(
                        rule,
                        f"{describe_frame(e)}: {how} delivery on link {link.name}, whose "
                        f"sender declared snd-settle-mode {_name(mode)} in its attach at "
                        f"{info.events[at].t:.3f}",
                        i,
                        conn,
                    )


def unsettled_receive(info: TraceInfo) -> Iterator[Violation]:
    """A peer receiving from the broker asks for unsettled deliveries, and gets them."""
    rule = "unsettled-receive"
    for conn in info.conns:
        client, server = info.labels[conn]
        for link in info.links.links_of(conn):
            if link.receiver != client or link.sender != server:
                continue
            yield from _receiving_link(info, rule, conn, link)


def _receiving_link(info: TraceInfo, rule: str, conn: str, link: LinkInfo) -> Iterator[Violation]:
    asked: int | None = None  # what the receiver's latest attach asked for
    answered: int | None = None
    for i, e, settled in _deliveries(info, link):
        if e.name == "attach" and e.src == link.receiver:
            asked, answered = _mode(e), None
            if asked != UNSETTLED:
                yield info.v(
                    rule,
                    f"{describe_frame(e)}: the receiver asked for snd-settle-mode "
                    f"{_name(asked)}, not unsettled: the broker may deliver pre-settled, and "
                    "a message settled on the way is lost with the connection",
                    i,
                    conn,
                )
                return  # once per link: every later finding follows from it
        elif e.name == "attach":
            answered = _mode(e)
            if asked == UNSETTLED and answered == SETTLED:
                yield info.v(
                    rule,
                    f"{describe_frame(e)}: answered snd-settle-mode settled to a receiver that "
                    "asked for unsettled (the sender SHOULD respect the receiver's mode)",
                    i,
                    conn,
                )
                return
        elif asked == UNSETTLED and answered == MIXED and settled:
            yield info.v(
                rule,
                f"{describe_frame(e)}: a pre-settled delivery on link {link.name} to a "
                "receiver that asked for unsettled (the attach answered mixed): the message "
                "is lost if the connection drops before it is processed",
                i,
                conn,
            )
            return
