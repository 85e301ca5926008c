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

The rules themselves are small functions in :mod:`harness.trace.rules`; this
module is their table (rule id -> function, description, run by default or
not) and ``check()``, which runs them and caps floods.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from harness.trace.basis import Basis, spec, tutorial
from harness.trace.model import TraceEvent
from harness.trace.rules.base import TraceInfo, Violation
from harness.trace.rules.credit import credit
from harness.trace.rules.delivery import settled_or_resent
from harness.trace.rules.links import attach_answered, dynamic_address
from harness.trace.rules.ordering import (
    close_last,
    delivery_id_order,
    detach_before_close,
    open_first,
)
from harness.trace.rules.session import session_window
from harness.trace.rules.settlement import settle_mode, unsettled_receive

__all__ = [
    "DEFAULT_RULES",
    "RULES",
    "Invariant",
    "Violation",
    "check",
    "render_violations",
]

# at most this many violations per rule and connection; the rest is summed up
MAX_PER_CONN = 10

RuleFn = Callable[[TraceInfo], Iterator[Violation]]


@dataclass(frozen=True)
class Invariant:
    """One row of the table: the rule's id, its function, what it checks and what it
    rests on (``basis.side`` None: whoever sent the offending frame, broker or peer)."""

    id: str
    fn: RuleFn
    summary: str
    basis: Basis
    default: bool = True  # run by check() unless rules= names it explicitly


#: a rule that only ever holds reference peers to the tutorial names this side
PEER = "peer"

_TABLE: tuple[Invariant, ...] = (
    Invariant(
        "open-first",
        open_first,
        "open, begin, attach, transfer in order on each side (also 2.5.1, 2.6.3)",
        spec("2.4.1"),
    ),
    Invariant(
        "close-last", close_last, "nothing but heartbeats after a side's close", spec("2.4.3")
    ),
    Invariant("credit", credit, "no transfer beyond the link credit granted", spec("2.6.7")),
    Invariant(
        "session-window",
        session_window,
        "no transfer frame beyond the session's incoming window granted",
        spec("2.5.6"),
    ),
    Invariant("attach-answered", attach_answered, "every attach is answered", spec("2.6.3")),
    Invariant(
        "dynamic-address", dynamic_address, "a dynamic attach gets an address", spec("3.5.3")
    ),
    Invariant(
        "delivery-id-order",
        delivery_id_order,
        "delivery ids increase per session; the frames of one delivery repeat it",
        spec("2.7.5"),
    ),
    Invariant(
        "settle-mode",
        settle_mode,
        "transfers keep the snd-settle-mode (unsettled, settled) their sender's attach declared",
        spec("2.8.2"),
    ),
    # Not run by default: closing a connection implicitly ends its sessions and
    # links (AMQP 1.0, 2.4.3/2.7.9), and both proton and rhea close without
    # detaching, so this is a style check that would flag every cell.
    Invariant(
        "detach-before-close",
        detach_before_close,
        "a peer that closes cleanly detaches its links first (never asked of a broker)",
        tutorial("helloworld.py", "a clean shutdown detaches before it closes", PEER),
        default=False,
    ),
    Invariant(
        "settled-or-resent",
        settled_or_resent,
        "a client's unsettled messages are settled or resent after a reconnect",
        tutorial("simple_send.py", "what was not confirmed is sent again after a reconnect", PEER),
    ),
    # at-least-once scenarios ask for it (Scenario.extra_invariants)
    Invariant(
        "unsettled-receive",
        unsettled_receive,
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
    info = TraceInfo(events)
    out: list[Violation] = []
    # The rules build indexes of every frame (a 100,000-message trace has 200,000
    # transfers) and make no reference cycles; the cyclic collector would walk the
    # whole trace again and again meanwhile (a third of the CPU time). Off while
    # they run, back on (and free to collect) after.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for name in names:
            if name not in skip:
                out += _capped(name, RULES[name].fn(info))
    finally:
        if was_enabled:
            gc.enable()
    out.sort(key=lambda v: v.index if v.index is not None else -1)
    return out


def _capped(name: str, found: Iterator[Violation]) -> list[Violation]:
    """The first ``MAX_PER_CONN`` violations per connection, then one line counting the rest."""
    out: list[Violation] = []
    counts: dict[str | None, int] = {}
    extra: dict[str | None, Violation] = {}
    for v in found:
        n = counts[v.conn] = counts.get(v.conn, 0) + 1
        if n <= MAX_PER_CONN:
            out.append(v)
        elif n == MAX_PER_CONN + 1:
            extra[v.conn] = v
    for c, v in extra.items():
        more = counts[c] - MAX_PER_CONN
        out.append(
            Violation(
                name, f"{c}: ... and {more} more {name} violation(s)", v.index, v.t, c, v.side
            )
        )
    return out
