"""``container:rabbitmq-4.3``: RabbitMQ 4.3 from Debian forky in an image built here.

Why: the newest release is what a maintainer asks about first. What differs
from 4.0 is checked against the real broker: v1 addresses refused (the
reason quotes the broker's words), a dynamic source answered only with the
capability its fingerprint supplies (request-response passes and records
it), the tutorial's plain dynamic source unsupported with the refusal
quoted, and a profile that opts back into v1 addresses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import harness.scenarios as scenarios
import pytest

from harness import images, pipeline
from harness.brokers import fingerprints
from harness.brokers.container import ContainerBroker, ContainerProvider
from harness.brokers.conventions import parse_address_format
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART
from harness.cell_state import RunOptions
from harness.cells import generate
from harness.env import require
from harness.matrix.known import load_registry
from harness.matrix.results import FAIL, PASS, UNSUPPORTED
from harness.peers import PeerRegistry

SPEC = "container:rabbitmq-4.3"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerBroker]:
    reason = ContainerProvider().unavailable()
    if reason:
        require(f"container provider unavailable: {reason}")
    images.build("rabbitmq-4.3")  # about 20 s of mmdebstrap once; cached by recipe hash
    b = ContainerProvider().create(SPEC, str(tmp_path_factory.mktemp("rabbitmq43")))
    assert isinstance(b, ContainerBroker)
    try:
        b.start()
        yield b
    finally:
        b.stop()


def _cells(fault: str) -> tuple[PeerRegistry, list]:
    reg = PeerRegistry()
    cells = generate(scenarios.select(["request-response"]), [reg.get("python")], [SPEC])
    return reg, [c for c in cells if c.fault.name == fault]


@pytest.mark.slow
def test_identity_addresses_and_capabilities_come_from_the_fingerprint(
    broker: ContainerBroker,
) -> None:
    assert broker.identity.product == "RabbitMQ" and broker.identity.version.startswith("4.3.")
    assert broker.capabilities == {RESTART, ANONYMOUS_RELAY, DYNAMIC}
    assert broker.dynamic_capabilities == ("rabbitmq:volatile-queue",)
    assert broker.address("q43") == "/queues/q43"  # declared through /management
    assert broker.describe()["convention"] == "rabbitmq-v2"


@pytest.mark.slow
def test_request_response_passes_with_the_capability_and_records_it(
    broker: ContainerBroker, tmp_path: Path
) -> None:
    reg, (cell,) = _cells("none")
    res = pipeline.run_cell(cell, broker, reg, RunOptions(tmp_path, known=load_registry()))
    assert res.verdict == PASS, res.reason
    assert res.figures["dynamic_capabilities"] == ["rabbitmq:volatile-queue"]
    commands = (tmp_path / res.artifacts / "commands.txt").read_text()
    assert "--dynamic-capability rabbitmq:volatile-queue" in commands


@pytest.mark.slow
def test_the_tutorials_plain_dynamic_source_is_unsupported_with_the_refusal(
    broker: ContainerBroker, tmp_path: Path
) -> None:
    reg, (cell,) = _cells("tutorial-pure")
    res = pipeline.run_cell(cell, broker, reg, RunOptions(tmp_path, known=load_registry()))
    assert res.verdict == UNSUPPORTED and res.known == "rabbitmq-plain-dynamic-source-refused"
    assert 'amqp:not-implemented "Dynamic source not supported' in res.reason
    assert "dynamic_capabilities" not in res.figures
    assert "--dynamic-capability" not in (tmp_path / res.artifacts / "commands.txt").read_text()


@pytest.mark.slow
def test_a_v1_address_is_refused_in_the_brokers_words(
    broker: ContainerBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never 'not answered within 0.0 s': the broker answered, with a refusal."""
    monkeypatch.setattr(broker, "convention", parse_address_format("/amq/queue/{name}"))
    reg = PeerRegistry()
    (cell,) = generate(scenarios.select(["hello-world"]), [reg.get("python")], [SPEC])
    res = pipeline.run_cell(cell, broker, reg, RunOptions(tmp_path, timeout=8.0))
    assert res.verdict == FAIL
    assert "amqp:invalid-field" in res.reason and "amqp_address_v1_not_permitted" in res.reason
    assert "not answered" not in res.reason, res.reason
    assert fingerprints.convention_for(broker.identity).name == "rabbitmq-v2"
