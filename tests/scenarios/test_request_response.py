"""request-response's ``dynamic-target`` check, sans IO: traces in, one line (or None) out.

Why: a broker need not create dynamic nodes. When it declines a JMS
client's temporary queue (a sender's dynamic target, 3.5.4) the cell must
be ``unsupported``, saying what the wire showed (the refusal's condition and
description, or the attach nobody answered), on any broker; a broker that
answers, that fails for another reason, or a client that never asks must
not be excused by it.
"""

from __future__ import annotations

import harness.scenarios as scenarios

from harness.matrix.known import apply, load_registry
from harness.trace.model import TraceEvent
from scenarios.request_response import NO_TARGET_ADDRESS, dynamic_target_declined
from tests.matrix.sample import cell

TEMP_QUEUE = "qpid-jms:temp-queue-creator:ID:1:1:1"
EMBEDDED = {"product": "amqp-interop-broker", "version": "0.1.0"}
OTHER = {"product": "SomeBroker", "version": "9.9"}


def _frame(t: float, performative: str, src: str, dst: str, **fields) -> TraceEvent:
    return TraceEvent(
        t, "frame", performative, conn="c2", src=src, dst=dst, channel=0, fields=fields
    )


def _closed(t: float, by: str) -> TraceEvent:
    return TraceEvent(t, "conn", "close", conn="c2", fields={"by": by})


ASK = _frame(
    0.5, "attach", "client", "broker", name=TEMP_QUEUE, handle=0, role="sender",
    source={"address": None}, target={"dynamic": True},
)  # fmt: skip
NULL_TARGET = _frame(0.51, "attach", "broker", "client", name=TEMP_QUEUE, handle=3, role="receiver")
REFUSAL = _frame(
    0.52, "detach", "broker", "client", handle=3, closed=True,
    error={"condition": "amqp:not-implemented", "description": "dynamic targets are not supported"},
)  # fmt: skip


def test_the_spec_refusal_is_quoted_from_the_wire() -> None:
    """2.6.3: an attach with a null target, then a detach with the error."""
    assert dynamic_target_declined([ASK, NULL_TARGET, REFUSAL]) == (
        f"{NO_TARGET_ADDRESS}: broker refused it (2.6.3: a null target, then a detach with "
        'amqp:not-implemented "dynamic targets are not supported")'
    )


def test_an_unanswered_attach_is_named_with_how_long_it_waited() -> None:
    line = dynamic_target_declined([ASK, _closed(18.5, "client")])
    assert line == (
        f"{NO_TARGET_ADDRESS}: broker left the attach of link {TEMP_QUEUE} unanswered for 18.0 s "
        "(then client dropped the TCP connection; attach at 0.500 s on c2)"
    )
    stopped = dynamic_target_declined([ASK, _closed(20.0, "tap-stop")])
    assert stopped is not None and "then the harness stopped the tap" in stopped
    assert "the trace ends there" in str(dynamic_target_declined([ASK]))


def test_an_answer_that_came_only_after_the_client_gave_up_is_no_refusal() -> None:
    """The client detached first; the broker's null target then only answers that detach."""
    gave_up = _frame(10.5, "detach", "client", "broker", handle=0, closed=True)
    late = _frame(10.51, "attach", "broker", "client", name=TEMP_QUEUE, handle=3, role="receiver")
    bye = _frame(10.52, "detach", "broker", "client", handle=3, closed=True)
    line = dynamic_target_declined([ASK, gave_up, late, bye])
    assert line is not None and "unanswered for 10.0 s (until the client's detach" in line


def test_a_session_ended_with_not_implemented_instead_of_an_answer() -> None:
    """RabbitMQ before 4.1 declines a dynamic source this way."""
    end = _frame(
        0.6, "end", "broker", "client",
        error={"condition": "amqp:not-implemented", "description": "Dynamic targets not supported"},
    )  # fmt: skip
    assert dynamic_target_declined([ASK, end]) == (
        f"{NO_TARGET_ADDRESS}: broker ended the session instead of answering it: "
        'amqp:not-implemented "Dynamic targets not supported"'
    )


def test_what_is_not_a_broker_declining_a_dynamic_target() -> None:
    answered = _frame(
        0.51, "attach", "broker", "client", name=TEMP_QUEUE, handle=3, role="receiver",
        target={"address": "dynamic.1"},
    )  # fmt: skip
    assert dynamic_target_declined([ASK, answered]) is None
    # a null target left attached: the dynamic-address invariant's failure, not a refusal
    assert dynamic_target_declined([ASK, NULL_TARGET]) is None
    # a broker that crashed or dropped the connection has not declined anything
    crash = _frame(0.6, "close", "broker", "client", error={"condition": "amqp:internal-error"})
    assert dynamic_target_declined([ASK, crash]) is None
    assert dynamic_target_declined([ASK, _closed(3.0, "broker")]) is None
    cut = TraceEvent(1.0, "conn", "cut", conn="c2")
    assert dynamic_target_declined([ASK, cut]) is None
    # a refused dynamic *source* (3.5.3) is another matter (known failures per broker)
    source = _frame(
        0.5, "attach", "client", "broker", name="reply", handle=0, role="receiver",
        source={"dynamic": True}, target={"address": None},
    )  # fmt: skip
    refused = _frame(0.51, "attach", "broker", "client", name="reply", handle=3, role="sender")
    assert dynamic_target_declined([source, refused, REFUSAL]) is None
    assert dynamic_target_declined([source, _closed(18.0, "client")]) is None


def test_the_check_runs_first_and_cites_3_5_4() -> None:
    sc = scenarios.select(["request-response"])[0]
    first = sc.checks[0]
    assert first.rule == "dynamic-target"
    assert first.basis.cite().startswith("3.5.4") and first.basis.side == "broker"


def test_the_known_failure_makes_any_broker_unsupported_with_the_wire_line() -> None:
    reg = load_registry()
    entry = reg.get("dynamic-target-refused")
    assert entry is not None and entry.observed == NO_TARGET_ADDRESS
    assert entry.broker_product == "*" and entry.verdict == "unsupported"
    line = dynamic_target_declined([ASK, NULL_TARGET, REFUSAL])
    message = f"broke 3.5.4 target: dynamic (broker (embedded:no-dynamic-target)): {line}"
    for broker, identity in (("embedded:no-dynamic-target", EMBEDDED), ("url:x", OTHER)):
        for fault in ("none", "tutorial-pure"):
            c = cell("request-response", ("jms", "python"), broker, fault=fault)
            verdict, reason, eid = apply(
                "fail", f"[dynamic-target] {message}", c, identity, {}, reg, messages=[message]
            )
            assert (verdict, eid) == ("unsupported", "dynamic-target-refused")
            assert 'amqp:not-implemented "dynamic targets are not supported"' in reason
    # the same cell failing for any other reason stays a failure
    c = cell("request-response", ("jms", "python"), "embedded")
    other = "client (jms) got 3 of 4 replies"
    assert apply("fail", other, c, EMBEDDED, {}, reg, messages=[other])[0] == "fail"
