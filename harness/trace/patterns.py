"""Sequence patterns: an ordered-subsequence matcher over a trace.

A scenario states the handshake it expects as a list of steps, in the order
they must happen, and the matcher finds them in the trace with anything else
allowed in between::

    hello = Pattern("hello world handshake", [
        frame("open", src="hello"),
        any_order(                               # clients pipeline: no order promised here
            frame("open", dst="hello"),
            frame("attach", src="hello", role="receiver", source__address=capture("queue")),
        ),
        frame("attach", dst="hello", role="sender"),               # the answer, then only
        frame("attach", src="hello", role="sender", target__address=ref("queue")),
        never(frame("transfer", src="hello")),   # nothing sent before the credit
        frame("flow", dst="hello", link_credit=gt(0)),
        frame("transfer", src="hello", message__body="Hello World!"),
        frame("close", src="hello"),
    ], client="hello")
    result = match(hello, events)          # per connection by default
    assert result.ok, result.explain()

Order across the two directions is only meaningful one way: a frame that the
tap saw *before* the other side's frame cannot have been caused by it. Peers
send open, begin, attach and flow without waiting for the remote open, so say
what may happen in either order with ``any_order(...)``.

What the spec leaves open is written as alternatives: ``either(step, [step,
step])`` matches when any one alternative fits in that place. Each step cites
what it rests on with ``.because(spec("2.6.7", BROKER))`` or
``.because(tutorial("helloworld.py", "...", "hello"))`` (:mod:`.basis`); a
failure names that basis and the side that deviated.

Field keywords are ``__`` paths into the event's fields; a plain value must be
equal, a predicate (``gt(0)``, ``one_of(...)``, ``present()``, ``capture``,
``ref`` ...) decides otherwise. A failed match explains itself: the pattern
with a marker at the step reached, what was expected, what came instead and
where the trace stopped -- the text a person reads first when a cell fails.

Scopes: ``"connection"`` (each tapped connection on its own; the pattern must
match within one), ``"trace"`` (the whole trace in time order: stories across
reconnects) and ``"link"`` (only the frames of one link: its attaches, flows,
transfers, detaches and the dispositions of its deliveries).

This module is the front door; the parts live in their own modules:
:mod:`.predicates` (field tests), :mod:`.steps` (steps, Pattern, Forbid),
:mod:`.topology` (connection ends, links), :mod:`.search` (the
ordered-subsequence search), :mod:`.explain` (failure text) and
:mod:`.matcher` (``match``, ``MatchResult``).
"""

from __future__ import annotations

from harness.trace.matcher import MatchResult, assert_match, match
from harness.trace.predicates import (
    Predicate,
    absent,
    all_of,
    any_of,
    between,
    capture,
    contains,
    ge,
    gt,
    le,
    lt,
    matches,
    ne,
    nonempty,
    not_,
    one_of,
    present,
    ref,
)
from harness.trace.steps import (
    AnyOrder,
    Either,
    Forbid,
    Never,
    Pattern,
    Step,
    any_order,
    conn,
    either,
    forbid,
    frame,
    harness,
    header,
    never,
    peer,
)
from harness.trace.topology import LinkIndex, LinkInfo, client_of, index_links

__all__ = [
    "AnyOrder",
    "Either",
    "Forbid",
    "LinkIndex",
    "LinkInfo",
    "MatchResult",
    "Never",
    "Pattern",
    "Predicate",
    "Step",
    "absent",
    "all_of",
    "any_of",
    "any_order",
    "assert_match",
    "between",
    "capture",
    "client_of",
    "conn",
    "contains",
    "either",
    "forbid",
    "frame",
    "ge",
    "gt",
    "harness",
    "header",
    "index_links",
    "le",
    "lt",
    "match",
    "matches",
    "ne",
    "never",
    "nonempty",
    "not_",
    "one_of",
    "peer",
    "present",
    "ref",
]
