"""Broker capabilities at broker set-up, and reasons that quote the wire.

Why: a cell whose scenario needs what the broker lacks must be
``unsupported`` with the reason, before any peer starts, whether the lack is
the provider's own claim or a known-failure entry for that product and
version; and a cell that did run into a refusal must lead its reason with the
refusal's condition and description, not the timeout that followed.
"""

from __future__ import annotations

from pathlib import Path

import harness.scenarios as scenarios

from harness import pipeline
from harness.brokers.base import Broker, BrokerIdentity
from harness.capabilities import DYNAMIC, RESTART
from harness.cell_state import CellState, RunOptions
from harness.cells import generate
from harness.checks import wire_error
from harness.matrix.known import KnownFailures, load_registry
from harness.matrix.results import UNSUPPORTED
from harness.peers import PeerRegistry
from harness.trace.model import TraceEvent


class _Broker(Broker):
    """Never started: set-up only asks for capabilities, identity and an address."""

    def __init__(self, product: str, version: str, capabilities: frozenset[str]) -> None:
        super().__init__()
        self.name = f"fake:{product}"
        self.identity = BrokerIdentity(product=product, version=version)
        self.capabilities = capabilities
        self.addressed: list[str] = []

    def start(self, timeout: float = 0) -> None:
        pass

    def stop(self) -> None:
        pass

    def address(self, queue: str) -> str:
        self.addressed.append(queue)
        return queue

    def settle_queues(self) -> None:
        self.addressed.append("(settled)")


def _set_up(tmp_path: Path, scenario: str, broker: _Broker, known: KnownFailures) -> CellState:
    reg = PeerRegistry()
    cell = generate(scenarios.select([scenario]), [reg.get("python")], [broker.name])[0]
    st = CellState.new(cell, reg, RunOptions(tmp_path, known=known))
    pipeline.plan(st)
    st.broker = broker
    pipeline.set_up_broker(st)
    return st


def test_a_known_lack_makes_the_cell_unsupported_with_its_reason(tmp_path: Path) -> None:
    """RabbitMQ 4.0 reached by url: claims dynamic (unknown), the registry knows better."""
    b = _Broker("RabbitMQ", "4.0.5", frozenset({DYNAMIC}))
    st = _set_up(tmp_path, "request-response", b, load_registry())
    assert st.decided and st.result.verdict == UNSUPPORTED
    assert st.result.reason.startswith(
        "broker fake:RabbitMQ lacks dynamic needed by scenario request-response: RabbitMQ before "
        "4.1 does not answer"
    )
    assert "amqp:not-implemented" in st.result.reason
    assert st.result.known == "rabbitmq-dynamic-source-refused"
    assert b.addressed == []  # not even a queue declared


def test_past_the_range_the_cell_runs(tmp_path: Path) -> None:
    b = _Broker("RabbitMQ", "4.1.0", frozenset({DYNAMIC}))
    st = _set_up(tmp_path, "request-response", b, load_registry())
    assert not st.decided and b.addressed


def test_a_capability_the_provider_does_not_claim(tmp_path: Path) -> None:
    reg = PeerRegistry()
    b = _Broker("Mine", "1.0", frozenset({DYNAMIC}))
    every = generate(scenarios.select(["at-least-once"]), [reg.get("python")], [b.name])
    cell = next(c for c in every if RESTART in c.fault.needs)
    st = CellState.new(cell, reg, RunOptions(tmp_path, known=KnownFailures([])))
    pipeline.plan(st)
    st.broker = b
    pipeline.set_up_broker(st)
    assert st.result.verdict == UNSUPPORTED
    assert (
        st.result.reason == f"broker fake:Mine lacks restart needed by fault plan {cell.fault.name}"
    )
    assert st.result.known is None


def test_a_restart_cell_waits_for_its_own_queue_to_settle(tmp_path: Path) -> None:
    """RabbitMQ 4.0 crashed half a second after a declaration lost the queue: settle after it."""
    reg = PeerRegistry()
    b = _Broker("Mine", "1.0", frozenset({DYNAMIC, RESTART}))
    every = generate(scenarios.select(["at-least-once"]), [reg.get("python")], [b.name])
    cell = next(c for c in every if c.fault.restarts_broker)
    st = CellState.new(cell, reg, RunOptions(tmp_path, known=KnownFailures([])))
    pipeline.plan(st)
    st.broker = b
    pipeline.set_up_broker(st)
    assert b.addressed == [st.queue_name, "(settled)"]


def _frame(t, performative, src, dst, **fields) -> TraceEvent:
    return TraceEvent(
        t, "frame", performative, conn="c1", src=src, dst=dst, channel=0, fields=fields
    )


DYNAMIC_ATTACH = _frame(
    0.1, "attach", "client", "broker", name="reply", handle=0, role="receiver",
    source={"dynamic": True}, target={"address": None},
)  # fmt: skip


def test_an_ended_session_instead_of_an_attach() -> None:
    """RabbitMQ 3.10 and 4.0 on a dynamic source."""
    end = _frame(
        0.2, "end", "broker", "client",
        error={"condition": "amqp:not-implemented", "description": "Dynamic sources not supported"},
    )  # fmt: skip
    assert wire_error([DYNAMIC_ATTACH, end]) == (
        "broker ended the session instead of answering client's attach (dynamic source): "
        'amqp:not-implemented "Dynamic sources not supported" (c1 at 0.200 s)'
    )


def test_a_refused_attach() -> None:
    """The spec's refusal: an attach with a null terminus, then a detach with the error."""
    answer = _frame(0.15, "attach", "broker", "client", name="reply", handle=7, role="sender")
    detach = _frame(
        0.2, "detach", "broker", "client", handle=7, closed=True,
        error={"condition": "amqp:not-found", "description": None},
    )  # fmt: skip
    assert wire_error([DYNAMIC_ATTACH, answer, detach]) == (
        "broker refused client's attach (dynamic source) with a detach: amqp:not-found "
        "(c1 at 0.200 s)"
    )


def test_a_closed_connection_and_no_error_at_all() -> None:
    sent = _frame(
        0.1, "attach", "sender", "broker", name="s", handle=0, role="sender",
        target={"address": "/queues/q"},
    )  # fmt: skip
    answered = _frame(0.11, "attach", "broker", "sender", name="s", handle=0, role="receiver")
    close = _frame(0.3, "close", "broker", "sender", error={"condition": "amqp:internal-error"})
    assert wire_error([sent, answered, close]) == (
        "broker closed the connection: amqp:internal-error (c1 at 0.300 s)"
    )
    assert wire_error([sent, close]).startswith(
        "broker closed the connection instead of answering sender's attach (address /queues/q)"
    )
    clean = _frame(0.3, "close", "broker", "sender", error=None)
    assert wire_error([sent, answered, clean]) is None
