"""The stdout-hygiene requirement of ``interop conform`` (harness/commands/conform_stdout.py).

A peer whose library logs one line to stdout, and only when a connection is
refused, passes every other requirement's happy path but fails this one,
naming the line; a clean run list passes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import resources
from harness.cli import main
from harness.commands.conform_stdout import Seen, stdout_problem


@dataclass
class FakeRun:
    argv: list[str]
    lines: list[dict[str, Any]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)


def test_clean_runs_have_no_problem() -> None:
    runs = [FakeRun(["peer", "send"], lines=[{"kind": "result"}])]
    assert stdout_problem(runs) is None


def test_a_log_line_on_stdout_is_named() -> None:
    runs = [
        FakeRun(["peer", "send"], lines=[{"kind": "result"}]),
        FakeRun(["peer", "send", "--url", "amqp://127.0.0.1:1"], bad=["WARN netty: refused"]),
    ]
    problem = stdout_problem(runs)
    assert problem is not None and "'WARN netty: refused'" in problem


def test_seen_keeps_the_candidates_runs_only() -> None:
    seen = Seen()
    mine = seen.add(FakeRun(["java", "-jar", "peer", "send"]))
    seen.add(FakeRun(["python3", "peer.py", "receive"]))
    assert seen.of(["java", "-jar", "peer"]) == [mine]


def test_a_peer_that_logs_only_on_a_refused_connection_fails_the_requirement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Python reference peer, wrapped to print one log line when told --no-reconnect."""
    peer = resources.python_script("python", "peer.py")[-1]
    leaky = tmp_path / "leaky.py"
    leaky.write_text(
        "import runpy, sys\n"
        "if '--no-reconnect' in sys.argv:\n"
        "    print('WARN connection refused, giving up', flush=True)\n"
        f"runpy.run_path({str(peer)!r}, run_name='__main__')\n"
    )
    code = main(["conform", f"leaky[reconnect,dynamic]={sys.executable} {leaky}"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAIL  stdout-json-only  non-JSON on stdout" in out
    assert "WARN connection refused" in out
    assert "PASS  broker-send" in out
    # it was declared without listen but listens: told from its ready line, not a 15 s kill
    assert 'FAIL  listen-refused  it listened (\'{"kind": "ready"' in out
