"""No cell can hang: a peer or a broker that stops answering becomes a failed cell.

The failure must come within the cell's timeout (plus the kill margin) and
say where the trace stopped, so a person knows which step never came.
"""

from __future__ import annotations

import signal
import sys
import time

import harness.scenarios as scenarios
import pytest

from harness import drive
from harness.brokers.embedded import EmbeddedBroker
from harness.cells import Cell
from harness.matrix.results import FAIL
from harness.peers import Implementation, PeerRegistry
from harness.pipeline import KILL_MARGIN, RunOptions, run_cell

SILENT = [sys.executable, "-c", "import time; time.sleep(600)"]


def _cell(name: str, roles: dict[str, str]) -> Cell:
    sc = scenarios.select([name])[0]
    return Cell(sc, sc.fault("none"), tuple(roles.items()), "embedded")


def test_a_peer_that_never_answers_fails_its_cell_in_time(embedded_broker, tmp_path):
    """A 'receiver' that never prints its ready line nor exits."""
    registry = PeerRegistry([Implementation("silent", command=SILENT)])
    cell = _cell("at-least-once", {"sender": "python", "receiver": "silent"})
    timeout = 4.0
    t0 = time.monotonic()
    result = run_cell(
        cell, embedded_broker, registry, RunOptions(out_dir=tmp_path, timeout=timeout)
    )
    elapsed = time.monotonic() - t0
    assert result.verdict == FAIL
    assert elapsed < timeout + KILL_MARGIN + 5
    assert "ready line" in result.reason and "receiver(silent)" in result.reason
    assert "trace stopped at" in result.reason


def test_a_broker_that_stops_answering_fails_the_cell_where_the_trace_stopped(tmp_path):
    """The broker is frozen (SIGSTOP) after accepting: the peer times out, the cell says where."""
    broker = EmbeddedBroker(tmp_path / "broker")
    broker.start()
    try:
        assert broker.proc is not None
        broker.proc.signal(signal.SIGSTOP)
        cell = _cell("hello-world", {"hello": "python"})
        timeout = 5.0
        t0 = time.monotonic()
        result = run_cell(
            cell, broker, PeerRegistry(), RunOptions(out_dir=tmp_path, timeout=timeout)
        )
        elapsed = time.monotonic() - t0
    finally:
        if broker.proc is not None:
            broker.proc.signal(signal.SIGCONT)
        broker.stop()
    assert result.verdict == FAIL
    assert elapsed < timeout + KILL_MARGIN + 5
    failures = (tmp_path / result.artifacts / "verdict.json").read_text()
    assert "peer-timeout" in failures, failures
    assert "timed out waiting for" in failures and "trace stopped at" in failures


@pytest.mark.parametrize("sig", [signal.SIGSTOP])
def test_a_peer_frozen_mid_cell_is_killed_at_the_deadline(
    embedded_broker, tmp_path, sig, monkeypatch
):
    """A peer that hangs after starting (no timeout of its own works) is killed by the runner."""
    # the deadline is under test, not the stall rule, which may stop the same receiver
    # sooner once the sender ended well (when slow start-ups moved the deadline on)
    monkeypatch.setattr(drive, "STALL_S", 600.0)
    hang = [
        sys.executable,
        "-c",
        "import json,sys,time; print(json.dumps({'kind':'ready','url':'x'}), flush=True); "
        "time.sleep(600)",
    ]
    registry = PeerRegistry([Implementation("hang", command=hang)])
    cell = _cell("at-least-once", {"sender": "python", "receiver": "hang"})
    timeout = 3.0
    t0 = time.monotonic()
    result = run_cell(
        cell, embedded_broker, registry, RunOptions(out_dir=tmp_path, timeout=timeout)
    )
    assert time.monotonic() - t0 < timeout + KILL_MARGIN + 5
    assert result.verdict == FAIL
    failures = (tmp_path / result.artifacts / "verdict.json").read_text()
    assert "cell-timeout" in failures or "peer-timeout" in failures, failures
