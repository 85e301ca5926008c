"""The ``interop`` command as a user runs it: a subprocess, its exit code and its output.

Why: scripts and CI rely on the shape of the command line (exit 0/1/2,
results.json keys, one-line errors). Each test runs ``python -m harness.cli``
in its own session with a deadline, and kills the group whatever happens.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.env import ROOT


@dataclass
class Done:
    rc: int
    out: str
    err: str
    seconds: float


def interop(*args: str, cwd: Path | None = None, timeout: float = 60.0) -> Done:
    """Run ``interop ARGS`` to completion (at most ``timeout`` s; then the group is killed)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("INTEROP_DEBUG", None)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd or ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
        raise AssertionError(
            f"interop {' '.join(args)} still running after {timeout} s: {err}"
        ) from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return Done(proc.returncode, out, err, time.monotonic() - t0)


def assert_usage_error(d: Done, needle: str) -> None:
    """Exit 2, exactly one line on stderr that contains ``needle``, no traceback, nothing on stdout."""
    assert d.rc == 2, d
    assert "Traceback" not in d.err
    lines = d.err.strip().splitlines()
    assert len(lines) == 1, d.err
    assert needle in lines[0], d.err
    assert d.out == ""


# -- help and usage errors ----------------------------------------------------------


def test_help_lists_the_commands() -> None:
    d = interop("--help")
    assert d.rc == 0
    for cmd in ("run", "peer", "broker", "peers", "brokers", "scenarios", "trace", "diff"):
        assert cmd in d.out
    for cmd in ("report", "compare", "merge", "images"):
        assert cmd in d.out


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nosuch"], "invalid choice: 'nosuch'"),
        (["run", "--broker", "nosuch"], "unknown broker 'nosuch'"),
        (["run", "--broker", "url:amqps://h:5671", "--list"], "scheme must be amqp"),
        (["run", "--broker", "url:", "--list"], "url:amqp://"),
        (["run", "--peers", "nosuch"], "unknown peer 'nosuch'"),
        (["run", "--scenario", "nosuch"], "unknown scenario 'nosuch'"),
        (["run", "--fault", "nosuch"], "unknown fault plan 'nosuch'"),
        (["run", "--shard", "3/2"], "bad --shard '3/2'"),
        (["run", "--shard", "x"], "bad --shard 'x'"),
        (["run", "--peer", "bad"], "bad --peer 'bad'"),
        (["run", "--count", "x"], "invalid int value: 'x'"),
        (["run", "--count", "0"], "--count must be >= 1"),
        (["run", "--cell", "nosuch"], "no cell 'nosuch'"),
        (["run", "--peers-file", "/nonexistent/peers.toml"], "/nonexistent/peers.toml"),
        (["trace", "/nonexistent"], "/nonexistent: no such trace file"),
        (["report", "/nonexistent"], "/nonexistent: no such results file"),
        (["report", "x", "--format", "nope"], "invalid choice: 'nope'"),
        (["peer", "nosuch", "hello"], "unknown peer 'nosuch'"),
        (["broker", "nosuch"], "unknown broker 'nosuch'"),
        (["broker", "url:"], "url:amqp://"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    assert_usage_error(interop(*args), needle)


def test_bad_files_are_one_line_and_exit_2(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("this is not a results file\n")
    not_results = tmp_path / "other.json"
    not_results.write_text('{"hello": "world"}\n')
    not_trace = tmp_path / "t.jsonl"
    not_trace.write_text('{"a": 1}\n')
    bad_peers = tmp_path / "peers.toml"
    bad_peers.write_text("[peers.x]\ncommand = 5\n")
    assert_usage_error(interop("report", str(text)), str(text))
    assert_usage_error(interop("report", str(not_results)), str(not_results))
    assert_usage_error(interop("compare", str(text), str(not_results)), str(text))
    assert_usage_error(interop("compare", str(not_results), str(not_results)), "other.json")
    assert_usage_error(interop("merge", str(text), "-o", str(tmp_path / "m.json")), str(text))
    assert_usage_error(interop("trace", str(not_trace)), "not a trace event")
    assert_usage_error(interop("diff", str(text), str(text)), "notes.txt")
    assert_usage_error(interop("run", "--peers-file", str(bad_peers), "--list"), "peers.x")


def test_no_command_prints_help_and_exits_2() -> None:
    d = interop()
    assert d.rc == 2
    assert "usage: interop" in d.out + d.err
    assert "Traceback" not in d.err


# -- listings ---------------------------------------------------------------------


def test_listings_exit_0() -> None:
    peers = interop("peers")
    assert peers.rc == 0, peers.err
    assert peers.out.splitlines()[0].startswith("python ")
    assert "available" in peers.out
    brokers = interop("brokers")
    assert brokers.rc == 0, brokers.err
    assert {"embedded", "rabbitmq", "container", "url"} <= {
        line.split()[0] for line in brokers.out.splitlines() if line.strip()
    }
    sc = interop("scenarios")
    assert sc.rc == 0, sc.err
    for name in ("hello-world", "direct", "at-least-once", "request-response"):
        assert name in sc.out
    assert "sender-listens: sender(send, listens) x receiver(receive)" in sc.out


def test_run_list_prints_cell_ids() -> None:
    d = interop("run", "--list", "--peers", "python")
    assert d.rc == 0, d.err
    ids = d.out.split()
    assert "hello-world-python-embedded" in ids
    assert "direct-python->python" in ids
    assert "at-least-once-cut1-python->python-embedded" in ids
    assert len(ids) == len(set(ids))
    shard1 = interop("run", "--list", "--peers", "python", "--shard", "1/2").out.split()
    shard2 = interop("run", "--list", "--peers", "python", "--shard", "2/2").out.split()
    assert sorted(shard1 + shard2) == sorted(ids)
    assert not set(shard1) & set(shard2)


# -- a real run ---------------------------------------------------------------------


RESULT_KEYS = {"version", "brokers", "peers", "cells"}
CELL_KEYS = {
    "id",
    "scenario",
    "fault",
    "broker",
    "roles",
    "verdict",
    "reason",
    "duration_s",
    "artifacts",
}


@pytest.fixture(scope="module")
def hello_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Done, Path]:
    out = tmp_path_factory.mktemp("cli-run") / "out"
    d = interop(
        "run", "--scenario", "hello-world", "--peers", "python", "--out", str(out), timeout=60
    )
    return d, out


def test_run_hello_world(hello_run: tuple[Done, Path]) -> None:
    d, out = hello_run
    assert d.rc == 0, d.err
    assert "Traceback" not in d.err
    assert "hello-world" in d.out and "pass" in d.out  # the matrix
    data = json.loads((out / "results.json").read_text())
    assert RESULT_KEYS <= set(data)
    assert data["version"] == 1
    assert data["brokers"][0]["name"] == "embedded"
    assert data["brokers"][0]["product"] == "amqp-interop-broker"
    assert {"name", "product", "version"} <= set(data["brokers"][0])
    assert data["peers"] == [{"name": "python", "version": data["peers"][0]["version"]}]
    assert len(data["cells"]) == 1
    cell = data["cells"][0]
    assert CELL_KEYS <= set(cell)
    assert cell["id"] == "hello-world-python-embedded"
    assert cell["scenario"] == "hello-world"
    assert cell["fault"] == "none"
    assert cell["broker"] == "embedded"
    assert cell["roles"] == {"hello": "python"}
    assert cell["verdict"] == "pass"
    assert cell["duration_s"] > 0
    folder = out / cell["artifacts"]
    for name in ("trace.jsonl", "commands.txt", "verdict.json"):
        assert (folder / name).is_file(), name
    assert not (folder / "trace.txt").exists()  # a passing cell's is printed on demand:
    shown = interop("trace", str(folder), timeout=60)
    assert shown.rc == 0 and "hello->broker" in shown.out, shown.err
    assert json.loads((folder / "verdict.json").read_text())["verdict"] == "pass"
    assert "peer.py hello" in (folder / "commands.txt").read_text()


def test_trace_of_the_run(hello_run: tuple[Done, Path], tmp_path: Path) -> None:
    _, out = hello_run
    trace = next(out.glob("*/trace.jsonl"))
    d = interop("trace", str(trace))
    assert d.rc == 0, d.err
    assert "attach" in d.out
    frames = interop("trace", str(trace.parent), "--frames")
    assert frames.rc == 0 and "attach" in frames.out
    svg = tmp_path / "out.svg"
    d = interop("trace", str(trace), "--svg", str(svg))
    assert d.rc == 0, d.err
    root = ET.fromstring(svg.read_text())
    assert root.tag.endswith("svg")


def test_report_formats(hello_run: tuple[Done, Path], tmp_path: Path) -> None:
    _, out = hello_run
    results = out / "results.json"
    junit = interop("report", str(results), "--format", "junit")
    assert junit.rc == 0, junit.err
    root = ET.fromstring(junit.out)
    assert root.tag in ("testsuites", "testsuite")
    assert "hello-world-python-embedded" in junit.out
    for fmt in ("text", "markdown", "html"):
        d = interop("report", str(results), "--format", fmt)
        assert d.rc == 0 and "hello-world" in d.out, (fmt, d.err)
    written = tmp_path / "r.md"
    assert interop("report", str(out), "--format", "markdown", "-o", str(written)).rc == 0
    assert "hello-world" in written.read_text()
    same = interop("compare", str(results), str(results))
    assert same.rc == 0, same.err


@pytest.mark.slow
def test_run_against_a_closed_port_fails_the_cells(tmp_path: Path) -> None:
    """A url broker that is not there: exit 1, each cell failed with a reason naming the broker."""
    port = _closed_port()
    spec = f"url:amqp://127.0.0.1:{port}"
    with_out = tmp_path / "out"
    d = interop(
        "run",
        "--broker",
        spec,
        "--scenario",
        "hello-world",
        "--peers",
        "python",
        "--out",
        str(with_out),
        timeout=30,
    )
    assert d.rc == 1, d
    assert "Traceback" not in d.err
    assert d.seconds < 30
    data = json.loads((with_out / "results.json").read_text())
    (cell,) = data["cells"]
    assert cell["verdict"] == "fail"
    assert spec in cell["reason"] and "refused" in cell["reason"]
    assert "\n" not in cell["reason"]
    reason_lines = [line for line in d.err.splitlines() if "refused" in line]
    assert reason_lines and all(spec in line for line in reason_lines)


# -- single parts ---------------------------------------------------------------------


def test_peer_runs_the_reference_peer(embedded_broker) -> None:
    d = interop("peer", "python", "hello", "--url", embedded_broker.url(), "--timeout", "20")
    assert d.rc == 0, d.err
    lines = [json.loads(line) for line in d.out.splitlines()]
    assert lines[-1]["kind"] == "result" and lines[-1]["ok"] is True
    assert lines[-1]["received"] == ["Hello World!"]


def test_broker_embedded_prints_its_url_and_stops_on_sigint() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "broker", "embedded"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "no URL within 20 s"
        url = proc.stdout.readline().strip()
        assert url.startswith("amqp://127.0.0.1:"), url
        port = int(url.rsplit(":", 1)[1])
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=10)
        assert time.monotonic() - t0 < 2.0
        assert rc == 0, proc.stderr.read() if proc.stderr else rc
        # the broker went with it
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
