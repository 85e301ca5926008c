"""Bring your own peer: an external program and a user's handler class run through real cells.

Both are wired exactly as a user would do it on the command line
(``--peer NAME=COMMAND`` and ``--peer NAME=handler:MODULE:CLASS:ROLES``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import scenarios
from harness.cells import generate
from harness.env import ROOT
from harness.peers import PeerRegistry, parse_peer_option
from harness.pipeline import RunOptions, run_cell

EXAMPLE = ROOT / "peers" / "python" / "examples" / "my_receiver.py"


def test_handler_peer_plays_the_receiver_of_every_fault_plan(embedded_broker, tmp_path):
    mine = parse_peer_option(f"mine=handler:{EXAMPLE}:MyReceiver:receive")
    registry = PeerRegistry([mine])
    sc = scenarios.select(["at-least-once"])
    cells = [
        c
        for c in generate(sc, [registry.get("python"), mine], ["embedded"])
        if c.role_map["receiver"] == "mine"
    ]
    assert {c.fault.name for c in cells} == {f.name for f in sc[0].faults}
    assert all(c.role_map["sender"] == "python" for c in cells)  # the handler only receives
    for cell in cells:
        if cell.fault.name not in ("none", "cut1"):
            continue
        res = run_cell(cell, embedded_broker, registry, RunOptions(out_dir=tmp_path, count=200))
        assert res.verdict == "pass", res.reason


def test_external_command_peer_runs_every_role(embedded_broker, tmp_path):
    """The Python reference peer, declared as if it were someone else's program."""
    ext = parse_peer_option(
        f"ext[listen,reconnect,dynamic]={sys.executable} {ROOT / 'peers' / 'python' / 'peer.py'}"
    )
    registry = PeerRegistry([ext])
    cells = generate(scenarios.select(None), [ext], ["embedded"], ["none"])
    assert {c.scenario.name for c in cells} == {
        "hello-world",
        "direct",
        "at-least-once",
        "request-response",
    }
    for cell in cells:
        broker = None if cell.broker == "" else embedded_broker
        res = run_cell(cell, broker, registry, RunOptions(out_dir=tmp_path, count=50))
        assert res.verdict == "pass", (cell.id, res.reason)


@pytest.mark.slow
def test_cli_runs_an_external_peer_and_a_handler(tmp_path):
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        "--peers",
        "python,mine",
        "--peer",
        f"mine=handler:{EXAMPLE}:MyReceiver:receive",
        "--scenario",
        "at-least-once",
        "--fault",
        "none",
        "--count",
        "100",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert {c["id"] for c in cells} == {
        "at-least-once-python->python-embedded",
        "at-least-once-python->mine-embedded",
    }
    assert all(c["verdict"] == "pass" for c in cells)
