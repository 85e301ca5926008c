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

The rules themselves are small observers in :mod:`harness.trace.rules`, fed
one event at a time (a trace of any length passes once, and what they keep
grows with its links and connections, not its messages); this module is
their table (rule id -> rule, description, run by default or not), the
``Checker`` that feeds them and caps floods, and ``check()`` over a list.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from harness.trace.basis import Basis, spec, tutorial
from harness.trace.model import CONN, FRAME, TraceEvent
from harness.trace.rules.base import Context, Rule, StoryRule, Violation
from harness.trace.rules.credit import Credit
from harness.trace.rules.delivery import SettledOrResent
from harness.trace.rules.links import AttachAnswered, DynamicAddress
from harness.trace.rules.ordering import CloseLast, DeliveryIdOrder, DetachBeforeClose, OpenFirst
from harness.trace.rules.session import SessionWindow
from harness.trace.rules.settlement import SettleMode, UnsettledReceive

__all__ = [
    "DEFAULT_RULES",
    "RULES",
    "Checker",
    "Invariant",
    "Violation",
    "check",
    "render_violations",
]

# at most this many violations per rule and connection; the rest is summed up
MAX_PER_CONN = 10


@dataclass(frozen=True)
class Invariant:
    """One row of the table: the rule's id, its observer, what it checks and what it
    rests on (``basis.side`` None: whoever sent the offending frame, broker or peer)."""

    id: str
    rule: type[Rule]
    summary: str
    basis: Basis
    default: bool = True  # run by check() unless rules= names it explicitly


#: a rule that only ever holds reference peers to the tutorial names this side
PEER = "peer"

_TABLE: tuple[Invariant, ...] = (
    Invariant(
        "open-first",
        OpenFirst,
        "open, begin, attach, transfer in order on each side (also 2.5.1, 2.6.3)",
        spec("2.4.1"),
    ),
    Invariant(
        "close-last", CloseLast, "nothing but heartbeats after a side's close", spec("2.4.3")
    ),
    Invariant("credit", Credit, "no transfer beyond the link credit granted", spec("2.6.7")),
    Invariant(
        "session-window",
        SessionWindow,
        "no transfer frame beyond the session's incoming window granted",
        spec("2.5.6"),
    ),
    Invariant("attach-answered", AttachAnswered, "every attach is answered", spec("2.6.3")),
    Invariant("dynamic-address", DynamicAddress, "a dynamic attach gets an address", spec("3.5.3")),
    Invariant(
        "delivery-id-order",
        DeliveryIdOrder,
        "delivery ids increase per session; the frames of one delivery repeat it",
        spec("2.7.5"),
    ),
    Invariant(
        "settle-mode",
        SettleMode,
        "transfers keep the snd-settle-mode (unsettled, settled) their sender's attach declared",
        spec("2.8.2"),
    ),
    # Not run by default: closing a connection implicitly ends its sessions and
    # links (AMQP 1.0, 2.4.3/2.7.9), and both proton and rhea close without
    # detaching, so this is a style check that would flag every cell.
    Invariant(
        "detach-before-close",
        DetachBeforeClose,
        "a peer that closes cleanly detaches its links first (never asked of a broker)",
        tutorial("helloworld.py", "a clean shutdown detaches before it closes", PEER),
        default=False,
    ),
    Invariant(
        "settled-or-resent",
        SettledOrResent,
        "a client's unsettled messages are settled or resent after a reconnect",
        tutorial("simple_send.py", "what was not confirmed is sent again after a reconnect", PEER),
    ),
    # at-least-once scenarios ask for it (Scenario.extra_invariants)
    Invariant(
        "unsettled-receive",
        UnsettledReceive,
        "a peer receiving from the broker asks for snd-settle-mode unsettled and gets it",
        spec("2.7.3"),
        default=False,
    ),
)

#: rule id -> its row, in the order check() runs them
RULES: dict[str, Invariant] = {r.id: r for r in _TABLE}

DEFAULT_RULES: tuple[str, ...] = tuple(r.id for r in RULES.values() if r.default)


def render_violations(violations: Sequence[Violation]) -> str:
    """One line per violation, or a line saying there were none."""
    if not violations:
        return "no invariant violations"
    return "\n".join(str(v) for v in violations)


class Checker:
    """The chosen rules, fed a trace one event at a time, in trace order.

    ``feed`` each event as it comes (``feed_all`` for a list), then
    ``finish`` for the violations, in trace order. More than
    ``MAX_PER_CONN`` violations of one rule on one connection are cut short
    with a line counting the rest: one broken sender should not bury
    everything else, and a flood costs no memory.
    """

    def __init__(self, rules: Sequence[str] | None = None, skip: Sequence[str] = ()) -> None:
        names = list(DEFAULT_RULES) if rules is None else list(rules)
        unknown = [n for n in list(names) + list(skip) if n not in RULES]
        if unknown:
            raise ValueError(f"unknown invariant {unknown[0]!r}; known: {', '.join(RULES)}")
        chosen = [RULES[n].rule for n in names if n not in skip]
        self.ctx = Context(story=any(issubclass(r, StoryRule) for r in chosen))
        self._caps = {r.id: _Cap(r.id) for r in chosen}
        self.rules = [r(self.ctx, self._caps[r.id].add) for r in chosen]
        self._any_frame = [r for r in self.rules if r.frames is None]
        self._by_name: dict[str, list[Rule]] = {}  # frame name -> the rules that read it
        self._on_conn = [r for r in self.rules if r.conn_events]
        self._n = 0

    def _for(self, name: str) -> list[Rule]:
        found = self._by_name.get(name)
        if found is None:
            found = self._any_frame + [
                r for r in self.rules if r.frames is not None and name in r.frames
            ]
            found.sort(key=self.rules.index)
            self._by_name[name] = found
        return found

    def feed(self, e: TraceEvent) -> None:
        """The next event of the trace."""
        i = self._n
        self._n += 1
        kind = self.ctx.step(i, e)
        if kind == FRAME:
            for r in self._for(e.name):
                r.frame(i, e)
        elif kind == CONN:
            for r in self._on_conn:
                r.conn_event(i, e)

    def feed_all(self, events: Iterable[TraceEvent]) -> None:
        with cyclic_gc_off():
            for e in events:
                self.feed(e)

    def finish(self) -> list[Violation]:
        """Every violation found, in trace order (one line per capped flood)."""
        for r in self.rules:
            r.finish()
        out = [v for cap in self._caps.values() for v in cap.result()]
        out.sort(key=lambda v: v.index if v.index is not None else -1)
        return out


@contextlib.contextmanager
def cyclic_gc_off() -> Iterator[None]:
    """The cyclic garbage collector off while a long trace is read, back on after.

    The rules keep no reference cycles and a long trace makes millions of small
    objects: the collector would walk them again and again meanwhile (a third of
    the CPU time). Off while they run, back on (and free to collect) after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check(
    events: Iterable[TraceEvent],
    rules: Sequence[str] | None = None,
    skip: Sequence[str] = (),
) -> list[Violation]:
    """Run the rules (``DEFAULT_RULES`` unless ``rules`` names them, minus ``skip``)
    on a trace; the violations come back in trace order (see ``Checker``).
    Unknown rule ids raise ``ValueError``."""
    checker = Checker(rules, skip)
    checker.feed_all(events)
    return checker.finish()


class _Cap:
    """One rule's violations: the first ``MAX_PER_CONN`` per connection, then a count."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.kept: list[Violation] = []
        self.counts: dict[str | None, int] = {}
        self.extra: dict[str | None, Violation] = {}  # the first one over the cap

    def add(self, v: Violation) -> None:
        n = self.counts[v.conn] = self.counts.get(v.conn, 0) + 1
        if n <= MAX_PER_CONN:
            self.kept.append(v)
        elif n == MAX_PER_CONN + 1:
            self.extra[v.conn] = v

    def result(self) -> list[Violation]:
        out = list(self.kept)
        for c, v in self.extra.items():
            more = self.counts[c] - MAX_PER_CONN
            out.append(
                Violation(
                    self.rule,
                    f"{c}: ... and {more} more {self.rule} violation(s)",
                    v.index,
                    v.t,
                    c,
                    v.side,
                )
            )
        return out
