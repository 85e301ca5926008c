"""A JMS temporary queue on brokers without dynamic targets: ``unsupported``, in the wire's words.

Why: Qpid JMS takes its reply address from a sender with a dynamic target
(3.5.4), the other peers from a receiver with a dynamic source (3.5.3). A
broker may refuse a dynamic target (2.6.3) or never answer it; then the jms
requester's cell must be ``unsupported``, quoting the refusal's condition and
description or naming the attach nobody answered, within the cell's time,
while a python requester passes on the very same broker. Real cells: the
embedded broker's two variants, the jms peer (Java), the python peer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import harness.scenarios as scenarios
import pytest

from harness import pipeline
from harness.brokers.embedded import EmbeddedBroker
from harness.cell_state import RunOptions
from harness.cells import Cell
from harness.checks import KILL_MARGIN
from harness.env import require
from harness.matrix.known import load_registry
from harness.matrix.results import PASS, UNSUPPORTED
from harness.peers import PeerRegistry, PeerUnavailable

#: the cell's own time-out: short, since the silent variant spends all of it waiting
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def registry() -> PeerRegistry:
    reg = PeerRegistry()
    try:
        reg.get("jms").argv()  # builds it on first use
    except PeerUnavailable as e:
        require(f"peer jms unavailable: {e}")
    return reg


@pytest.fixture
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker(tmp_path / "broker", name=f"embedded:{request.param}")
    b.start()
    yield b
    b.stop()


def _run(reg: PeerRegistry, broker: EmbeddedBroker, client: str, out: Path):
    sc = scenarios.select(["request-response"])[0]
    cell = Cell(sc, sc.fault("none"), (("client", client), ("server", "python")), broker.name)
    opts = RunOptions(out, timeout=TIMEOUT, known=load_registry())
    res = pipeline.run_cell(cell, broker, reg, opts)
    verdict = json.loads((out / res.artifacts / "verdict.json").read_text())
    return res, verdict


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["no-dynamic-target"], indirect=True)
def test_a_refused_temporary_queue_is_unsupported_quoting_the_refusal(
    registry: PeerRegistry, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    res, _ = _run(registry, broker, "jms", tmp_path / "jms")
    assert res.verdict == UNSUPPORTED, res.reason
    assert res.known == "dynamic-target-refused"
    assert "broker refused it (2.6.3: a null target, then a detach with" in res.reason
    assert 'amqp:not-implemented "dynamic targets are not supported"' in res.reason
    python, _ = _run(registry, broker, "python", tmp_path / "python")
    assert python.verdict == PASS, python.reason  # a dynamic source on the same broker


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["silent-dynamic-target"], indirect=True)
def test_an_unanswered_temporary_queue_is_unsupported_in_bounded_time(
    registry: PeerRegistry, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    res, verdict = _run(registry, broker, "jms", tmp_path / "jms")
    assert res.verdict == UNSUPPORTED, res.reason
    assert res.known == "dynamic-target-refused"
    assert "attach of link qpid-jms:temp-queue-creator:" in res.reason
    assert "not answered by broker" in res.reason  # the attach, named; no timeout alone
    messages = [f["message"] for f in verdict["failures"]]
    assert any("no reply address for client's dynamic target: broker left" in m for m in messages)
    stages = verdict["timings"]["stages"]
    assert stages["drive"] <= TIMEOUT + KILL_MARGIN  # the requester gives up; nobody hangs
    python, _ = _run(registry, broker, "python", tmp_path / "python")
    assert python.verdict == PASS, python.reason
