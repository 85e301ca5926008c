"""Bring your own peer: an external program and a user's handler class run through real cells.

Both are wired exactly as a user would do it on the command line
(``--peer NAME=COMMAND`` and ``--peer NAME=handler:MODULE:CLASS:ROLES``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import harness.scenarios as scenarios
import pytest

from harness import resources
from harness.cells import generate
from harness.env import ROOT
from harness.peers import PeerRegistry, parse_peer_option
from harness.pipeline import RunOptions, run_cell

EXAMPLE = resources.peer_file("python", "examples", "my_receiver.py")


#: the example with the one thing an at-least-once receiver needs: snd-settle-mode unsettled
AT_LEAST_ONCE = """

from proton.reactor import AtLeastOnce


class MyAtLeastOnceReceiver(MyReceiver):
    def on_start(self, event):
        connection = event.container.connect(self.url)
        event.container.create_receiver(connection, self.address, options=AtLeastOnce())
"""


def _receiver_cells(mine, registry):
    sc = scenarios.select(["at-least-once"])
    cells = [
        c
        for c in generate(sc, [registry.get("python"), mine], ["embedded"])
        if c.role_map["receiver"] == "mine"
    ]
    assert {c.fault.name for c in cells} == {f.name for f in sc[0].faults}
    assert all(c.role_map["sender"] == "python" for c in cells)  # the handler only receives
    return [c for c in cells if c.fault.name in ("none", "cut1")]


def _at_least_once_example(tmp_path) -> str:
    """The example's module with the subclass added: ``PATH:MyAtLeastOnceReceiver``."""
    module = tmp_path / "my_at_least_once.py"
    module.write_text(EXAMPLE.read_text() + AT_LEAST_ONCE)
    return f"{module}:MyAtLeastOnceReceiver"


def test_handler_peer_plays_the_receiver_of_every_fault_plan(embedded_broker, tmp_path):
    module = _at_least_once_example(tmp_path)
    mine = parse_peer_option(f"mine=handler:{module}:receive")
    registry = PeerRegistry([mine])
    for cell in _receiver_cells(mine, registry):
        res = run_cell(cell, embedded_broker, registry, RunOptions(out_dir=tmp_path, count=200))
        assert res.verdict == "pass", res.reason


def test_a_receiver_that_never_asks_for_unsettled_is_blamed_for_it(embedded_broker, tmp_path):
    """The shipped example is the tutorial's simple_recv: it leaves snd-settle-mode at mixed,
    so a broker may deliver to it pre-settled; the at-least-once verdict says so, and only
    that, naming the receiver (until the example asks for unsettled: then it passes)."""
    mine = parse_peer_option(f"mine=handler:{EXAMPLE}:MyReceiver:receive")
    registry = PeerRegistry([mine])
    for cell in _receiver_cells(mine, registry):
        res = run_cell(cell, embedded_broker, registry, RunOptions(out_dir=tmp_path, count=200))
        if res.verdict != "pass":
            assert res.rule == "unsettled-receive", res.reason
            assert "broke 2.7.3 attach: snd-settle-mode (receiver (mine))" in res.reason
            assert "(+" not in res.reason, res.reason  # nothing else broke


def test_external_command_peer_runs_every_role(embedded_broker, tmp_path):
    """The Python reference peer, declared as if it were someone else's program."""
    ext = parse_peer_option(
        f"ext[listen,reconnect,dynamic]={sys.executable} {resources.peer_file('python', 'peer.py')}"
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
        f"mine=handler:{_at_least_once_example(tmp_path)}:receive",
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
