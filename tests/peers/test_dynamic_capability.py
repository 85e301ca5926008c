"""``--dynamic-capability``: every reference peer puts the broker's capability on its dynamic source.

Why: RabbitMQ 4.2+ answers a dynamic source only when it carries
``rabbitmq:volatile-queue`` (with expiry-policy link-detach and pre-settled
replies, peers/CONTRACT.md). Each peer is run as the request client against
the embedded broker told to ask for a capability, and the wire must show it
on the client's reply receiver; the tutorial-pure plan must show none.
"""

from __future__ import annotations

import json
from pathlib import Path

import harness.scenarios as scenarios
import pytest

from harness import pipeline
from harness.brokers.embedded import EmbeddedBroker
from harness.cell_state import RunOptions
from harness.cells import generate
from harness.env import require
from harness.matrix.results import PASS
from harness.peers import PeerRegistry, PeerUnavailable

CAPABILITY = "amqp-interop:test"
#: snd-settle-mode settled (AMQP 1.0 2.8.2)
SETTLED = 1


def _client_attach(folder: Path) -> dict:
    """The client's reply receiver attach, as the tap decoded it."""
    for line in (folder / "trace.jsonl").read_text().splitlines():
        e = json.loads(line)
        f = e.get("fields") or {}
        if e.get("name") == "attach" and e.get("src") == "client" and f.get("role") == "receiver":
            return f
    raise AssertionError(f"no receiver attach from the client in {folder}")


@pytest.mark.parametrize("impl", ["python", "cpp", "js", "go", "pyamqp", "java", "rust"])
def test_the_capability_reaches_the_wire(
    impl: str, embedded_broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = PeerRegistry()
    try:
        reg.get(impl).argv()
    except PeerUnavailable as e:
        require(f"peer {impl} unavailable: {e}")
    cells = generate(
        scenarios.select(["request-response"]), [reg.get(impl), reg.get("python")], ["embedded"]
    )
    mine = {c.fault.name: c for c in cells if c.role_map == {"client": impl, "server": "python"}}
    monkeypatch.setattr(embedded_broker, "dynamic_capabilities", (CAPABILITY,))

    res = pipeline.run_cell(mine["none"], embedded_broker, reg, RunOptions(tmp_path / "with"))
    assert res.verdict == PASS, res.reason
    assert res.figures["dynamic_capabilities"] == [CAPABILITY]
    attach = _client_attach(tmp_path / "with" / res.artifacts)
    assert attach["source"]["dynamic"] is True
    assert attach["source"]["capabilities"] in ([CAPABILITY], CAPABILITY)
    assert attach["source"]["expiry_policy"] == "link-detach"
    assert attach["snd_settle_mode"] == SETTLED

    pure = mine["tutorial-pure"]
    res = pipeline.run_cell(pure, embedded_broker, reg, RunOptions(tmp_path / "pure"))
    assert res.verdict == PASS, res.reason
    attach = _client_attach(tmp_path / "pure" / res.artifacts)
    assert attach["source"]["dynamic"] is True and not attach["source"]["capabilities"]
    assert "dynamic_capabilities" not in res.figures
