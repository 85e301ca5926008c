"""Protocol rules every wire trace must satisfy, whatever the scenario.

Scenario patterns say what a cell *should* do; these rules say what no
implementation may ever do on the wire (send beyond its credit, leave an
attach unanswered, lose an unsettled message across a reconnect). They run on
every trace, so a regression in any peer or broker shows up even in cells
whose own assertions pass.

Each rule has a stable id (used in ``skip=`` and in known-failure lists) and
reports one-line messages naming the connection, the side and the frame::

    for v in check(events):
        print(v)    # [credit] c1 sender->broker transfer delivery_id=5 at 0.031 ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.trace.model import CONN, FRAME, HEADER, TraceEvent
from harness.trace.topology import LinkIndex, LinkKey, client_of, index_links

__all__ = ["DEFAULT_RULES", "RULES", "Violation", "check", "render_violations"]

# at most this many violations per rule and connection; the rest is summed up
MAX_PER_CONN = 10
_SERIAL = 2**32


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, where (trace index, time, connection) and what."""

    rule: str
    message: str
    index: int | None = None
    t: float | None = None
    conn: str | None = None

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


def render_violations(violations: Sequence[Violation]) -> str:
    """One line per violation, or a line saying there were none."""
    if not violations:
        return "no invariant violations"
    return "\n".join(str(v) for v in violations)


# ------------------------------------------------------------------------ helpers


def _sdiff(a: int, b: int) -> int:
    """a - b in RFC-1982 serial number arithmetic (delivery counts and ids wrap)."""
    return ((a - b + 2**31) % _SERIAL) - 2**31


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ch(e: TraceEvent) -> int:
    return e.channel if e.channel is not None else 0


_KEY_FIELDS = ("name", "handle", "delivery_id", "first", "last")


def _frame(e: TraceEvent) -> str:
    """'c1 sender->broker attach name=L handle=0 at 0.013': the frame in a message."""
    parts = [f"{e.conn} {e.src}->{e.dst} {e.name}"]
    for k in _KEY_FIELDS:
        v = e.fields.get(k)
        if v is not None:
            parts.append(f"{k}={v}")
    msg_id = e.get("message__id")
    if msg_id is not None:
        parts.append(f"message id={msg_id!r}")
    if e.channel:
        parts.append(f"on channel {e.channel}")
    parts.append(f"at {e.t:.3f}")
    return " ".join(parts)


class _Info:
    """What several rules need, computed once per trace."""

    def __init__(self, events: Sequence[TraceEvent]) -> None:
        self.events = list(events)
        self.conns: list[str] = []
        self.indices: dict[str, list[int]] = {}
        for i, e in enumerate(self.events):
            if e.conn is None or e.kind not in (FRAME, CONN, HEADER):
                continue
            if e.conn not in self.indices:
                self.conns.append(e.conn)
                self.indices[e.conn] = []
            self.indices[e.conn].append(i)
        self.labels = {c: client_of(self.events, c) for c in self.conns}
        self._links: LinkIndex | None = None

    @property
    def links(self) -> LinkIndex:
        if self._links is None:
            self._links = index_links(self.events)
        return self._links

    def frames(self, conn: str) -> Iterator[tuple[int, TraceEvent]]:
        for i in self.indices[conn]:
            e = self.events[i]
            if e.kind == FRAME:
                yield i, e

    def v(self, rule: str, message: str, i: int | None, conn: str | None) -> Violation:
        t = self.events[i].t if i is not None else None
        return Violation(rule, message, i, t, conn)

    def ending(self, conn: str, after: int) -> tuple[str, str | None, int | None]:
        """How the connection ended after trace index ``after``: (how, by whom, index).

        ``how`` is "close" (a close frame, by its sender), "cut" (a fault),
        "tcp" (the TCP connection closed without a close frame, by the label the
        tap names) or "open" (the trace ends with the connection up).
        """
        for i in self.indices[conn]:
            if i <= after:
                continue
            e = self.events[i]
            if e.kind == FRAME and e.name == "close":
                return "close", e.src, i
            if e.kind == CONN and e.name == "cut":
                return "cut", None, i
            if e.kind == CONN and e.name == "close":
                return "tcp", e.fields.get("by"), i
        return "open", None, None


def _attach_pairs(info: _Info, conn: str) -> tuple[list[tuple[int, int]], list[int]]:
    """Attaches of one connection paired with their answers; and the unanswered ones.

    An attach from one side is answered by the next attach of the same link
    (name and sending side) from the other side.
    """
    pending: dict[tuple[LinkKey, str | None], list[int]] = {}
    pairs: list[tuple[int, int]] = []
    for i, e in info.frames(conn):
        if e.name != "attach":
            continue
        role = e.fields.get("role")
        sender = e.src if role == "sender" else e.dst
        key: LinkKey = (conn, str(e.fields.get("name")), sender)
        waiting = pending.get((key, e.dst))
        if waiting:
            pairs.append((waiting.pop(0), i))
        else:
            pending.setdefault((key, e.src), []).append(i)
    unanswered = sorted(i for lst in pending.values() for i in lst)
    return pairs, unanswered


# -------------------------------------------------------------------------- rules


def _open_first(info: _Info) -> Iterator[Violation]:
    """open, then begin on a channel, then attach of a handle, then transfers on it."""
    rule = "open-first"
    for conn in info.conns:
        opened: set[str | None] = set()
        unopened: set[str | None] = set()
        channels: dict[str | None, set[int]] = {}
        handles: dict[str | None, set[tuple[int, int]]] = {}
        for i, e in info.frames(conn):
            side = e.src
            name = e.name
            if name == "empty" or name.startswith("sasl_") or name == "close":
                continue
            if name == "open":
                if side in opened:
                    yield info.v(rule, f"{_frame(e)}: {side} sent a second open", i, conn)
                opened.add(side)
                continue
            if side not in opened and side not in unopened:
                yield info.v(rule, f"{_frame(e)} before {side}'s open", i, conn)
                unopened.add(side)  # report once per side
            ch = _ch(e)
            began = channels.setdefault(side, set())
            attached = handles.setdefault(side, set())
            if name == "begin":
                began.add(ch)
                continue
            if ch not in began:
                yield info.v(rule, f"{_frame(e)} before {side}'s begin on channel {ch}", i, conn)
                began.add(ch)
            handle = _int(e.fields.get("handle"))
            if name == "end":
                began.discard(ch)
                attached.difference_update({h for h in attached if h[0] == ch})
            elif name == "attach":
                if handle is not None:
                    attached.add((ch, handle))
            elif name in ("transfer", "detach") or (name == "flow" and handle is not None):
                if handle is not None and (ch, handle) not in attached:
                    yield info.v(
                        rule, f"{_frame(e)} before {side}'s attach of handle {handle}", i, conn
                    )
                    attached.add((ch, handle))
                if name == "detach" and handle is not None:
                    attached.discard((ch, handle))


def _close_last(info: _Info) -> Iterator[Violation]:
    """Nothing but heartbeats from a side after its close."""
    rule = "close-last"
    for conn in info.conns:
        closed: dict[str | None, int] = {}
        for i, e in info.frames(conn):
            if e.src in closed:
                if e.name != "empty":
                    at = info.events[closed[e.src]].t
                    yield info.v(rule, f"{_frame(e)} after {e.src}'s close at {at:.3f}", i, conn)
            elif e.name == "close":
                closed[e.src] = i


@dataclass
class _Credit:
    sender_dc: int | None = None  # from the sender's attach / flows
    initial: int | None = None
    limit: int | None = None  # highest delivery-count + link-credit granted
    limit_at: int | None = None
    null_credit: int | None = None  # largest credit granted before the sender's count was known
    null_at: int | None = None
    in_progress: bool = False


def _credit(info: _Info) -> Iterator[Violation]:
    """No transfer starts a delivery beyond the link credit the receiver granted.

    The limit is the receiver's delivery-count plus link-credit (a null count
    means the sender's initial-delivery-count). The highest limit granted is
    kept: the tap sees a credit *reduction* before the sender does, so
    transfers already in flight would be flagged unfairly.
    """
    rule = "credit"
    idx = info.links
    for conn in info.conns:
        state: dict[LinkKey, _Credit] = {}
        for i, e in info.frames(conn):
            keys = idx.link_of.get(i)
            if not keys or e.name not in ("attach", "flow", "transfer"):
                continue
            key = keys[0]
            link = idx.links[key]
            st = state.setdefault(key, _Credit())
            from_sender = e.src == link.sender
            if e.name == "attach":
                if from_sender:
                    initial = _int(e.fields.get("initial_delivery_count")) or 0
                    st.initial = st.sender_dc = initial
                    st.in_progress = False
                else:  # a (re)attach from the receiver: credit starts afresh
                    st.limit = st.limit_at = st.null_credit = st.null_at = None
                continue
            if e.name == "flow":
                if from_sender:
                    dc = _int(e.fields.get("delivery_count"))
                    if dc is not None:
                        st.sender_dc = dc
                    continue
                credit = _int(e.fields.get("link_credit"))
                if credit is None:
                    continue
                dc = _int(e.fields.get("delivery_count"))
                if dc is None and st.initial is None:
                    if st.null_credit is None or credit >= st.null_credit:
                        st.null_credit, st.null_at = credit, i
                    continue
                new = ((dc if dc is not None else st.initial or 0) + credit) % _SERIAL
                if st.limit is None or _sdiff(new, st.limit) >= 0:
                    st.limit, st.limit_at = new, i
                continue
            # transfer
            if not from_sender:
                continue
            if st.in_progress:
                st.in_progress = bool(e.fields.get("more")) and not e.fields.get("aborted")
                continue
            st.in_progress = bool(e.fields.get("more")) and not e.fields.get("aborted")
            if st.sender_dc is None:
                st.sender_dc = st.initial or 0
            limit, limit_at = st.limit, st.limit_at
            if st.null_credit is not None:
                alt = ((st.initial or 0) + st.null_credit) % _SERIAL
                if limit is None or _sdiff(alt, limit) > 0:
                    limit, limit_at = alt, st.null_at
            if limit is None:
                yield info.v(
                    rule,
                    f"{_frame(e)} on link {link.name} before any credit from {link.receiver}",
                    i,
                    conn,
                )
            elif _sdiff(limit, st.sender_dc) <= 0:
                granted = info.events[limit_at].t if limit_at is not None else 0.0
                yield info.v(
                    rule,
                    f"{_frame(e)} on link {link.name} beyond credit: delivery-count "
                    f"{st.sender_dc}, limit {limit} granted by {link.receiver} at {granted:.3f}",
                    i,
                    conn,
                )
            st.sender_dc = (st.sender_dc + 1) % _SERIAL


def _attach_answered(info: _Info) -> Iterator[Violation]:
    """Every attach gets an attach back, unless the answering side closed the
    connection first or the connection was cut/lost."""
    rule = "attach-answered"
    for conn in info.conns:
        _, unanswered = _attach_pairs(info, conn)
        for i in unanswered:
            e = info.events[i]
            how, by, j = info.ending(conn, i)
            if how == "cut" or (how in ("close", "tcp") and by == e.dst):
                continue
            if how == "open":
                then = "the trace ended with the connection open"
                waited = info.events[-1].t - e.t
            else:
                assert j is not None
                what = "closed the connection" if how == "close" else "dropped the TCP connection"
                if by in (None, "tap", "tap-stop"):  # the harness ended the cell
                    then = f"then the harness stopped the tap at {info.events[j].t:.3f}"
                else:
                    then = f"then {by} {what} at {info.events[j].t:.3f}"
                waited = info.events[j].t - e.t
            name = e.fields.get("name")
            yield info.v(
                rule,
                f"{conn}: attach of link {name} from {e.src} not answered by {e.dst} "
                f"within {waited:.1f} s ({then}; attach at {e.t:.3f})",
                i,
                conn,
            )


def _dynamic_address(info: _Info) -> Iterator[Violation]:
    """A dynamic source (or target) is answered with the address the node got."""
    rule = "dynamic-address"
    for conn in info.conns:
        pairs, _ = _attach_pairs(info, conn)
        for i, j in pairs:
            e, answer = info.events[i], info.events[j]
            for term in ("source", "target"):
                asked = e.fields.get(term)
                if not (isinstance(asked, dict) and asked.get("dynamic")):
                    continue
                got = answer.fields.get(term)
                name = e.fields.get("name")
                if got is None:
                    if _detached_by(info, conn, j, answer):
                        continue  # a refusal: null terminus, then a detach
                    yield info.v(
                        rule,
                        f"{_frame(answer)}: answer to the dynamic {term} of link {name} "
                        f"from {e.src} has no {term} and no detach follows",
                        j,
                        conn,
                    )
                elif not (isinstance(got, dict) and got.get("address")):
                    yield info.v(
                        rule,
                        f"{_frame(answer)}: answer to the dynamic {term} of link {name} "
                        f"from {e.src} has no address",
                        j,
                        conn,
                    )


def _detached_by(info: _Info, conn: str, j: int, attach: TraceEvent) -> bool:
    handle = attach.fields.get("handle")
    for i, e in info.frames(conn):
        if (
            i > j
            and e.name == "detach"
            and e.src == attach.src
            and _ch(e) == _ch(attach)
            and e.fields.get("handle") == handle
        ):
            return True
    return False


def _delivery_id_order(info: _Info) -> Iterator[Violation]:
    """Delivery ids increase per session and direction; the frames of one
    multi-frame delivery repeat its id or omit it."""
    rule = "delivery-id-order"
    for conn in info.conns:
        last: dict[tuple[str | None, int], int] = {}
        current: dict[tuple[str | None, int, Any], int | None] = {}
        for i, e in info.frames(conn):
            ch = _ch(e)
            if e.name in ("begin", "end"):
                last.pop((e.src, ch), None)
                continue
            if e.name != "transfer":
                continue
            did = _int(e.fields.get("delivery_id"))
            hk = (e.src, ch, e.fields.get("handle"))
            more = bool(e.fields.get("more")) and not e.fields.get("aborted")
            if hk in current:
                cur = current[hk]
                if did is not None and cur is not None and did != cur:
                    yield info.v(
                        rule,
                        f"{_frame(e)}: continues delivery {cur} but carries delivery_id {did}",
                        i,
                        conn,
                    )
                if not more:
                    del current[hk]
                continue
            if more:
                current[hk] = did
            if did is None:
                yield info.v(rule, f"{_frame(e)}: first transfer without a delivery_id", i, conn)
                continue
            prev = last.get((e.src, ch))
            if prev is not None and _sdiff(did, prev) <= 0:
                yield info.v(
                    rule,
                    f"{_frame(e)}: delivery_id {did} does not increase (previous {prev} "
                    f"from {e.src} on channel {ch})",
                    i,
                    conn,
                )
            last[(e.src, ch)] = did


def _detach_before_close(info: _Info) -> Iterator[Violation]:
    """The side that closes a connection cleanly first detaches the links it attached.

    Only the side whose close comes first, without an error, is held to this;
    ending a session counts as letting go of its links.
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
        attached: dict[tuple[int, int], int] = {}
        for i, e in info.frames(conn):
            if i >= first_close:
                break
            if e.src != side:
                continue
            ch = _ch(e)
            handle = _int(e.fields.get("handle"))
            if e.name == "attach" and handle is not None:
                attached[(ch, handle)] = i
            elif e.name == "detach" and handle is not None:
                attached.pop((ch, handle), None)
            elif e.name == "end":
                for k in [k for k in attached if k[0] == ch]:
                    del attached[k]
        for (_, handle), i in sorted(attached.items(), key=lambda kv: kv[1]):
            name = info.events[i].fields.get("name")
            yield info.v(
                rule,
                f"{conn}: {side} closed the connection at {closing.t:.3f} with link {name} "
                f"(handle {handle}) still attached",
                first_close,
                conn,
            )


def _settled_or_resent(info: _Info) -> Iterator[Violation]:
    """At-least-once: an unsettled message a client sent is settled, or after its
    connection is lost, sent again (same message id) on a later connection of
    the same client."""
    rule = "settled-or-resent"
    idx = info.links
    order = {c: n for n, c in enumerate(info.conns)}
    # (client label, message id) -> connection order numbers it was sent on
    sent_on: dict[tuple[str | None, Any], set[int]] = {}
    per_conn: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    settled: set[tuple[Any, ...]] = set()
    for conn in info.conns:
        client, _server = info.labels[conn]
        deliveries: dict[tuple[Any, ...], dict[str, Any]] = {}
        for i, e in info.frames(conn):
            if e.name == "transfer" and e.src == client:
                dk = idx.delivery_of.get(i)
                if dk is None:
                    continue
                d = deliveries.setdefault(dk, {"index": i, "id": None, "settled": False})
                msg_id = e.get("message__id")
                if msg_id is not None:
                    d["id"] = msg_id
                    sent_on.setdefault((client, _hashable(msg_id)), set()).add(order[conn])
                if e.fields.get("settled"):
                    d["settled"] = True
            elif e.name == "disposition":
                first = _int(e.fields.get("first"))
                if first is None:
                    continue
                if not (e.fields.get("settled") or e.fields.get("state")):
                    continue
                last = _int(e.fields.get("last"))
                last = first if last is None or last < first else min(last, first + 100000)
                sender = e.src if e.fields.get("role") == "sender" else e.dst
                sid = idx.session_of.get(i)
                for did in range(first, last + 1):
                    settled.add((sid, sender, did))
        per_conn[conn] = deliveries
    for conn in info.conns:
        client, _ = info.labels[conn]
        lost: list[tuple[int, Any]] = []
        for dk, d in per_conn[conn].items():
            if d["settled"] or d["id"] is None or dk in settled:
                continue
            later = [n for n in sent_on.get((client, _hashable(d["id"])), ()) if n > order[conn]]
            if not later:
                lost.append((d["index"], d["id"]))
        if lost:
            lost.sort(key=lambda x: x[0])
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
    if isinstance(value, dict | list):
        return repr(value)
    return value


# ------------------------------------------------------------------------- table

RuleFn = Callable[[_Info], Iterator[Violation]]


@dataclass(frozen=True)
class _Rule:
    id: str
    fn: RuleFn
    summary: str = field(default="")
    default: bool = True  # run by check() unless rules= names it explicitly


RULES: dict[str, _Rule] = {
    r.id: r
    for r in (
        _Rule("open-first", _open_first, "open, begin, attach, transfer in order on each side"),
        _Rule("close-last", _close_last, "nothing but heartbeats after a side's close"),
        _Rule("credit", _credit, "no transfer beyond the link credit granted"),
        _Rule("attach-answered", _attach_answered, "every attach is answered"),
        _Rule("dynamic-address", _dynamic_address, "a dynamic attach gets an address"),
        _Rule("delivery-id-order", _delivery_id_order, "delivery ids increase per session"),
        # Not run by default: closing a connection implicitly ends its sessions and
        # links (AMQP 1.0, 2.4.3/2.7.9), and both proton and rhea close without
        # detaching, so this is a style check that would flag every cell.
        _Rule(
            "detach-before-close",
            _detach_before_close,
            "a clean close comes after the closer's detaches",
            default=False,
        ),
        _Rule(
            "settled-or-resent",
            _settled_or_resent,
            "unsettled messages are settled or resent after a reconnect",
        ),
    )
}


DEFAULT_RULES: tuple[str, ...] = tuple(r.id for r in RULES.values() if r.default)


def check(
    events: Sequence[TraceEvent],
    rules: Sequence[str] | None = None,
    skip: Sequence[str] = (),
) -> list[Violation]:
    """Run the rules (``DEFAULT_RULES`` unless ``rules`` names them, minus ``skip``)
    on a trace; the violations come back in trace order.

    More than ``MAX_PER_CONN`` violations of one rule on one connection are
    cut short with a line counting the rest: one broken sender should not bury
    everything else. Unknown rule ids raise ``ValueError``.
    """
    names = list(DEFAULT_RULES) if rules is None else list(rules)
    unknown = [n for n in list(names) + list(skip) if n not in RULES]
    if unknown:
        raise ValueError(f"unknown invariant {unknown[0]!r}; known: {', '.join(RULES)}")
    info = _Info(events)
    out: list[Violation] = []
    for name in names:
        if name in skip:
            continue
        counts: dict[str | None, int] = {}
        extra: dict[str | None, Violation] = {}
        for v in RULES[name].fn(info):
            n = counts[v.conn] = counts.get(v.conn, 0) + 1
            if n <= MAX_PER_CONN:
                out.append(v)
            elif n == MAX_PER_CONN + 1:
                extra[v.conn] = v
        for c, v in extra.items():
            more = counts[c] - MAX_PER_CONN
            out.append(
                Violation(name, f"{c}: ... and {more} more {name} violation(s)", v.index, v.t, c)
            )
    out.sort(key=lambda v: v.index if v.index is not None else -1)
    return out
