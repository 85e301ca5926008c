"""Contract tests shared by the connect-only reference peers (go, pyamqp).

A test module defines a ``peer`` fixture (the argv prefix) and an ``UNREPORTED``
constant, and imports these tests with ``from tests.peers.connecting import *``;
pytest then runs each of them against that module's peer. Everything runs on
127.0.0.1: the embedded broker, the Python reference peer on the other side,
a silent server for timeouts, and a proxy that cuts a connection.
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

import pytest

from harness import resources
from tests.peers.proc import Proc
from tests.peers.test_cpp_peer import CuttingProxy, check_output, events, run, silent_server
from tests.peers.test_defaults import expected, run_without_options

PY_PEER = [sys.executable, str(resources.peer_file("python", "peer.py"))]
BROKER = [sys.executable, str(resources.peer_file("python", "broker.py")), "--port", "0"]
ROLES = ["hello", "send", "receive", "serve", "request"]

__all__ = [
    "broker",
    "silent_server",
    "test_bad_arguments_exit_2_with_one_line",
    "test_broker_hello",
    "test_no_options_at_all",
    "test_pairs_with_the_python_peer",
    "test_refused_without_reconnect_fails_with_disconnected",
    "test_sender_reconnects_and_resends_after_a_cut",
    "test_sigterm_ends_an_endless_receiver_well",
    "test_timeout_against_silent_server_exits_3",
]


@pytest.fixture
def broker(procs: list[Proc]) -> str:
    p = Proc(BROKER)
    procs.append(p)
    return p.wait_line("ready")["url"]


def _start(procs: list[Proc], argv: list[str]) -> Proc:
    p = Proc(argv)
    procs.append(p)
    return p


@pytest.mark.parametrize(
    "args",
    [[], ["bogus"], ["send", "--bogus"], ["send", "--url", "http://127.0.0.1:5672"],
     ["receive", "--count", "ten"], ["send", "--timeout", "soon"], ["send", "stray"],
     ["send", "--listen"], ["receive", "--listen", "--url", "amqp://127.0.0.1:0"]],
    ids=lambda a: " ".join(a) or "no-args",
)  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(peer: list[str], args: list[str]) -> None:
    code, lines, err = run(peer + args)
    assert code == 2
    assert lines == []
    assert len(err.strip().splitlines()) == 1 and err.startswith(("usage:", "error:"))


@pytest.mark.parametrize("role", ROLES)
def test_timeout_against_silent_server_exits_3(
    peer: list[str], silent_server: int, role: str
) -> None:
    t0 = time.monotonic()
    code, lines, _ = run(
        peer + [role, "--url", f"amqp://127.0.0.1:{silent_server}", "--timeout", "0.5"]
    )
    assert code == 3 and time.monotonic() - t0 < 5
    timeouts = [x for x in lines if x["kind"] == "timeout"]
    assert len(timeouts) == 1 and "connection" in timeouts[0]["waiting_for"]
    result = check_output(lines, role)
    assert result["ok"] is False and "timed out" in result["error"]


def test_refused_without_reconnect_fails_with_disconnected(peer: list[str]) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    code, lines, _ = run(
        peer + ["send", "--url", f"amqp://127.0.0.1:{port}", "--no-reconnect", "--timeout", "5"]
    )
    assert code == 1 and events(lines, "disconnected")
    assert check_output(lines, "send")["confirmed"] == 0


def test_broker_hello(peer: list[str], broker: str, unreported: list[str]) -> None:
    code, lines, _ = run(peer + ["hello", "--url", broker, "--address", "hello-q"])
    assert code == 0
    result = check_output(lines, "hello")
    assert result["received"] == ["Hello World!"]
    assert result["unreported"] == unreported
    opened = events(lines, "link_opened")
    assert [e["role"] for e in opened[:2]] == ["receiver", "sender"]  # receiver first
    names = [x.get("name") for x in lines if x["kind"] == "event"]
    assert names.index("sent") < names.index("message") < names.index("connection_closed")
    assert ("sendable" in names) == ("sendable" not in unreported)


@pytest.mark.parametrize("mine", ["send", "receive", "request", "serve"])
def test_pairs_with_the_python_peer(
    peer: list[str], broker: str, procs: list[Proc], mine: str
) -> None:
    """Each role of this peer against its counterpart in the Python reference peer."""
    other = {"send": "receive", "receive": "send", "request": "serve", "serve": "request"}[mine]
    argv = {mine: peer, other: PY_PEER}
    consumer, producer = (
        ("receive", "send") if mine in ("send", "receive") else ("serve", "request")
    )
    common = ["--url", broker, "--address", f"pair-{mine}"]
    counts = {"receive": ["--count", "50"], "send": ["--count", "50"], "serve": ["--count", "4"]}
    c = _start(procs, argv[consumer] + [consumer, *common, *counts.get(consumer, [])])
    c.wait_line("ready")
    p_code, p_lines, p_err = run(argv[producer] + [producer, *common, *counts.get(producer, [])])
    c_code, c_lines, c_err = c.finish()
    assert (p_code, c_code) == (0, 0), (p_lines[-1:], c_lines[-1:], p_err, c_err)
    results: dict[str, Any] = {
        consumer: check_output(c_lines, consumer),
        producer: check_output(p_lines, producer),
    }
    lines = {consumer: c_lines, producer: p_lines}
    if consumer == "receive":
        assert results["receive"]["missing"] == [] and results["send"]["confirmed"] == 50
        assert events(lines["receive"], "message")[0]["body"] == {"sequence": 1}
    else:
        assert results["serve"]["served"] == 4 and results["request"]["replies"] == 4
        for m in events(lines["request"], "message"):
            assert m["body"] == m["request"].upper()


def test_sender_reconnects_and_resends_after_a_cut(
    peer: list[str], broker: str, procs: list[Proc]
) -> None:
    receiver = _start(procs, PY_PEER + ["receive", "--url", broker, "--address", "cut",
                                        "--count", "300", "--quiet"])  # fmt: skip
    receiver.wait_line("ready")
    proxy = CuttingProxy(int(broker.rsplit(":", 1)[1]), cut_after=6000)
    try:
        code, s_lines, err = run(
            peer + ["send", "--url", proxy.url, "--address", "cut", "--count", "300", "--quiet"]
        )
        r_code, r_lines, _ = receiver.finish()
    finally:
        proxy.close()
    assert proxy.cuts == 1
    assert (code, r_code) == (0, 0), (s_lines[-1:], err)
    s_res = check_output(s_lines, "send")
    assert s_res["confirmed"] == 300 and s_res["reconnects"] == 1
    assert s_res["sent"] == 300 + s_res["resent"]
    assert check_output(r_lines, "receive")["missing"] == []
    assert events(s_lines, "disconnected")


def test_sigterm_ends_an_endless_receiver_well(
    peer: list[str], broker: str, procs: list[Proc]
) -> None:
    p = _start(procs, peer + ["receive", "--url", broker, "--count", "0"])
    p.wait_line("ready")
    t0 = time.monotonic()
    p.popen.terminate()
    code, lines, _ = p.finish(timeout=5)
    assert time.monotonic() - t0 < 1.0 and code == 0
    assert check_output(lines, "receive")["ok"] is True


@pytest.mark.parametrize("role", ROLES)
def test_no_options_at_all(procs: list[Proc], peer: list[str], role: str) -> None:
    """With no options the peer connects to the default URL and reports peers/defaults.json."""
    result = run_without_options(procs, [*peer, role], role)
    assert result["options"] == expected(role)
