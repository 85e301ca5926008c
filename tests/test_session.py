"""A matrix run over worker threads: skips and failures for missing parts, CI or not."""

from __future__ import annotations

import harness.scenarios as scenarios
import pytest

from harness.cells import generate
from harness.peers import Implementation, PeerRegistry
from harness.pipeline import RunOptions
from harness.session import Session


def _run(tmp_path, monkeypatch, ci: bool, broker: str = "embedded", impl: str = "ghost"):
    monkeypatch.setenv("CI", "true" if ci else "false")
    ghost = Implementation("ghost", command=["/nonexistent/ghost-peer"])
    registry = PeerRegistry([ghost])
    cells = generate(scenarios.select(["hello-world"]), [registry.get(impl)], [broker])
    return Session(registry, RunOptions(out_dir=tmp_path), jobs=2).run(cells)


@pytest.mark.parametrize("ci,verdict", [(False, "skipped"), (True, "fail")])
def test_missing_peer_is_a_skip_on_a_laptop_and_a_failure_in_ci(tmp_path, monkeypatch, ci, verdict):
    [res] = _run(tmp_path, monkeypatch, ci)
    assert res.verdict == verdict
    assert "ghost" in res.reason and "does not exist" in res.reason


def test_unreachable_broker_fails_its_cells_with_one_line(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [res] = _run(tmp_path, monkeypatch, False, broker=f"url:amqp://127.0.0.1:{port}", impl="python")
    assert res.verdict == "fail"
    assert "\n" not in res.reason and str(port) in res.reason
