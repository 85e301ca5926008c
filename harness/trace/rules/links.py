"""Link attachment: every attach is answered, a dynamic terminus gets an address (2.6.3).

An attach left unanswered is how a broker that does not support something
(a dynamic receiver on RabbitMQ 3.x) shows on the wire; the message says who
waited for whom, how long, and how the connection ended.
"""

from __future__ import annotations

from collections.abc import Iterator

from harness.trace.model import TraceEvent
from harness.trace.rules.base import (
    StoryRule,
    TraceInfo,
    Violation,
    attach_pairs,
    channel_of,
    describe_frame,
)

__all__ = ["AttachAnswered", "DynamicAddress", "detach_of", "ended_by"]


#: an attaching side that ends the connection sooner than this after its attach, once
#: the other side has refused something, gave it no chance to answer (a peer closing
#: at once after a refused link: not "not answered within 0.0 s")
NO_CHANCE_S = 0.5


def _refused_before(info: TraceInfo, conn: str, i: int, by: str | None) -> bool:
    """Whether ``by`` sent a detach, end or close with an error on ``conn`` before index ``i``."""
    return any(
        j < i
        and f.src == by
        and f.name in ("detach", "end", "close")
        and isinstance(f.fields.get("error"), dict)
        for j, f in info.frames(conn)
    )


def _what_then(info: TraceInfo, conn: str, e: TraceEvent, i: int) -> tuple[str, float] | None:
    """After an unanswered attach: what happened next and how long it waited (None: excused)."""
    how, by, j = info.ending(conn, i)
    if how == "cut" or (how in ("close", "tcp") and by == e.dst):
        return None
    if _ended_at_once(info, conn, e, i):
        return None  # its own session ended with the link: no attach is owed on it any more
    if how == "open":
        return "the trace ended with the connection open", info.last_t - e.t
    assert j is not None
    if how in ("close", "tcp") and by == e.src and info.events[j].t - e.t < NO_CHANCE_S:
        if _refused_before(info, conn, i, e.dst):
            return None  # refused, the attaching side hung up at once: no answer was owed yet
    return f"{ended_by(how, by)} at {info.events[j].t:.3f}", info.events[j].t - e.t


def ended_by(how: str, by: str | None) -> str:
    """How a connection that ended (``TraceInfo.ending``: close or tcp) ended, for a message."""
    if by in (None, "tap", "tap-stop"):  # the harness ended the cell
        return "then the harness stopped the tap"
    what = "closed the connection" if how == "close" else "dropped the TCP connection"
    return f"then {by} {what}"


def _ended_at_once(info: TraceInfo, conn: str, e: TraceEvent, i: int) -> bool:
    """Whether the attaching side ended the attach's session at once (within ``NO_CHANCE_S``).

    Ending a session ends the link endpoints on it (AMQP 1.0 2.5.2, 2.7.8 end), so an
    end in answer stands for the attach and detach the link would have had. Seen on
    Artemis: a sender back after a broker restart with nothing left to send attaches,
    detaches and ends in one write, and the broker answers the end alone.
    """
    for k, f in info.frames(conn):
        if k <= i:
            continue
        if f.t - e.t >= NO_CHANCE_S:
            return False  # frames come in time order: none later is "at once"
        if f.name == "end" and f.src == e.src and f.channel == e.channel:
            return True
    return False


def _attach_answered(info: TraceInfo) -> Iterator[Violation]:
    """Every attach gets an attach back, unless the answering side closed the
    connection first or the connection was cut/lost."""
    rule = "attach-answered"
    for conn in info.conns:
        _, unanswered = attach_pairs(info, conn)
        for i in unanswered:
            e = info.events[i]
            found = _what_then(info, conn, e, i)
            if found is None:
                continue
            then, waited = found
            name = e.fields.get("name")
            yield info.v(
                rule,
                f"{conn}: attach of link {name} from {e.src} not answered by {e.dst} "
                f"within {waited:.1f} s ({then}; attach at {e.t:.3f})",
                i,
                conn,
                side=e.dst,
            )


def _dynamic_address(info: TraceInfo) -> Iterator[Violation]:
    """A dynamic source (or target) is answered with the address the node got."""
    rule = "dynamic-address"
    for conn in info.conns:
        pairs, _ = attach_pairs(info, conn)
        for i, j in pairs:
            e, answer = info.events[i], info.events[j]
            for term in ("source", "target"):
                asked = e.fields.get(term)
                if not (isinstance(asked, dict) and asked.get("dynamic")):
                    continue
                got = answer.fields.get(term)
                name = e.fields.get("name")
                if got is None:
                    if detach_of(info, conn, answer, j) is not None:
                        continue  # a refusal: null terminus, then a detach
                    yield info.v(
                        rule,
                        f"{describe_frame(answer)}: answer to the dynamic {term} of link {name} "
                        f"from {e.src} has no {term} and no detach follows",
                        j,
                        conn,
                    )
                elif not (isinstance(got, dict) and got.get("address")):
                    yield info.v(
                        rule,
                        f"{describe_frame(answer)}: answer to the dynamic {term} of link {name} "
                        f"from {e.src} has no address",
                        j,
                        conn,
                    )


def detach_of(info: TraceInfo, conn: str, attach: TraceEvent, after: int) -> int | None:
    """Where the side that sent ``attach`` detached that link after index ``after``, if it did."""
    for k, e in info.frames(conn):
        if (
            k > after
            and e.name == "detach"
            and e.src == attach.src
            and channel_of(e) == channel_of(attach)
            and e.fields.get("handle") == attach.fields.get("handle")
        ):
            return k
    return None


class AttachAnswered(StoryRule):
    """Every attach is answered (read from the story: attaches, ends, closes, cuts)."""

    id = "attach-answered"
    check = staticmethod(_attach_answered)


class DynamicAddress(StoryRule):
    """A dynamic terminus is answered with an address (read from the story)."""

    id = "dynamic-address"
    check = staticmethod(_dynamic_address)
