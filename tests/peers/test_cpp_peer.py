"""The proton C++ reference peer against the contract (peers/CONTRACT.md).

Each test starts real peer processes on 127.0.0.1 and reads their JSON
Lines. Direct (listen) mode needs nothing but the peer itself; the broker
tests use the embedded broker (peers/python/broker.py) and the cross-language
tests the Python peer, and skip with a reason while those files are absent.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest.mock import ANY

import pytest

from harness import resources
from harness.env import ROOT, cache_dir, require
from harness.toolchains import cpp
from tests.peers.proc import WAIT_S, Proc

BROKER = resources.peer_file("python", "broker.py")
PY_PEER = resources.peer_file("python", "peer.py")


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def peer() -> list[str]:
    """argv prefix of the compiled C++ peer (built once, cached by source digest)."""
    reason = cpp.unavailable()
    if reason:
        require(f"C++ peer unavailable: {reason}")
    return cpp.build(cache_dir() / "peers")


def start(procs: list[Proc], argv: list[str]) -> Proc:
    p = Proc(argv)
    procs.append(p)
    return p


def run(argv: list[str], timeout: float = WAIT_S) -> tuple[int, list[dict[str, Any]], str]:
    p = Proc(argv)
    try:
        return p.finish(timeout)
    finally:
        p.kill()


def check_output(lines: list[dict[str, Any]], role: str) -> dict[str, Any]:
    """Contract invariants on one peer's stdout; returns its result line."""
    assert lines, "no output"
    assert all("kind" in x for x in lines)
    results = [x for x in lines if x["kind"] == "result"]
    assert len(results) == 1, f"expected exactly one result line, got {results}"
    assert lines[-1]["kind"] == "result", "the result must be the last line"
    assert lines[-1]["role"] == role
    return lines[-1]


def events(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [x for x in lines if x["kind"] == "event" and x["name"] == name]


def listen(procs: list[Proc], argv: list[str]) -> tuple[Proc, str]:
    p = start(procs, argv + ["--listen", "--url", "amqp://127.0.0.1:0"])
    ready = p.wait_line("ready")
    assert ready["url"].startswith("amqp://127.0.0.1:")
    assert not ready["url"].endswith(":0")
    return p, ready["url"]


# ------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["bogus"],
        ["send", "--bogus"],
        ["send", "--url", "http://127.0.0.1:5672"],
        ["send", "--url", "amqp://"],
        ["send", "--url", "amqp://127.0.0.1:notaport"],
        ["send", "--url", "amqp://127.0.0.1:70000"],
        ["receive", "--count", "ten"],
        ["receive", "--count", "-1"],
        ["send", "--count"],
        ["send", "--timeout", "soon"],
        ["send", "stray-positional"],
        ["request", "--listen"],
    ],
    ids=lambda a: " ".join(a) or "no-args",
)
def test_bad_arguments_exit_2_with_one_line(peer: list[str], args: list[str]) -> None:
    code, lines, err = run(peer + args)
    assert code == 2
    assert lines == []
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(("usage:", "error:"))


# ------------------------------------------------------------------ timeout


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                accepted.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(timeout=2)
        for c in accepted:
            c.close()
        srv.close()


@pytest.mark.parametrize("role", ["send", "receive", "hello", "request", "serve"])
def test_timeout_against_silent_server_exits_3(
    peer: list[str], silent_server: int, role: str
) -> None:
    t0 = time.monotonic()
    code, lines, _ = run(
        peer + [role, "--url", f"amqp://127.0.0.1:{silent_server}", "--timeout", "0.5"]
    )
    assert code == 3
    assert time.monotonic() - t0 < 5
    timeouts = [x for x in lines if x["kind"] == "timeout"]
    assert len(timeouts) == 1 and "connection" in timeouts[0]["waiting_for"]
    result = check_output(lines, role)
    assert result["ok"] is False and "timed out" in result["error"]


def test_refused_without_reconnect_fails_with_disconnected(peer: list[str]) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    code, lines, _ = run(
        peer + ["send", "--url", f"amqp://127.0.0.1:{port}", "--no-reconnect", "--timeout", "5"]
    )
    assert code == 1
    assert events(lines, "disconnected")
    result = check_output(lines, "send")
    assert result["ok"] is False and result["confirmed"] == 0


# ---------------------------------------------------------------- direct


def test_direct_receive_listen_and_send_100(peer: list[str], procs: list[Proc]) -> None:
    receiver, url = listen(procs, peer + ["receive", "--count", "100", "--timeout", "20"])
    send = start(procs, peer + ["send", "--url", url, "--count", "100", "--timeout", "20"])
    s_code, s_lines, _ = send.finish()
    r_code, r_lines, _ = receiver.finish()
    assert (s_code, r_code) == (0, 0)
    s_res, r_res = check_output(s_lines, "send"), check_output(r_lines, "receive")
    assert s_res == {
        "kind": "result", "role": "send", "ok": True, "count": 100, "sent": 100,
        "confirmed": 100, "resent": 0, "reconnects": 0, "options": ANY,
    }  # fmt: skip
    assert r_res["ok"] and r_res["received"] == 100 and r_res["missing"] == []
    assert r_res["duplicates"] == 0
    msgs = events(r_lines, "message")
    assert [m["id"] for m in msgs] == list(range(1, 101))
    assert msgs[0]["body"] == {"sequence": 1} and msgs[0]["duplicate"] is False
    # proton may report dispositions out of order: compare as sets
    assert sorted(e["id"] for e in events(s_lines, "accepted")) == list(range(1, 101))
    opened = events(r_lines, "link_opened")
    assert opened and opened[0]["role"] == "receiver" and opened[0]["address"] == "examples"
    assert events(r_lines, "connection_closed") and events(s_lines, "connection_closed")


def test_direct_send_listen_and_receive(peer: list[str], procs: list[Proc]) -> None:
    sender, url = listen(procs, peer + ["send", "--count", "20", "--timeout", "20"])
    code, r_lines, _ = run(peer + ["receive", "--url", url, "--count", "20", "--timeout", "20"])
    s_code, s_lines, _ = sender.finish()
    assert (code, s_code) == (0, 0)
    assert check_output(r_lines, "receive")["missing"] == []
    assert check_output(s_lines, "send")["confirmed"] == 20
    assert [x["kind"] for x in r_lines].count("ready") == 1  # connect mode: link attached


@pytest.mark.parametrize(("asked", "answered"), [(0, 0), (1, 2)], ids=["unsettled", "settled"])
def test_send_listener_answers_the_settle_mode_asked(
    peer: list[str], procs: list[Proc], asked: int, answered: int
) -> None:
    """2.7.3: the receiver initiating the attach sets the snd-settle-mode it desires at the
    sender, which SHOULD respect it (go-amqp refuses any other answer to unsettled); a receiver
    asking settled keeps proton's mixed, because the send role counts outcomes."""
    # imported here: tests.peers.listening imports this module's helpers
    from tests.peers.listening import settle_mode_answer

    sender, url = listen(procs, peer + ["send", "--count", "1", "--timeout", "20"])
    assert settle_mode_answer(url, asked) == (answered, False)
    code, lines, _ = sender.finish()
    assert code == 0 and check_output(lines, "send")["confirmed"] == 1


def test_quiet_leaves_out_per_message_events(peer: list[str], procs: list[Proc]) -> None:
    receiver, url = listen(procs, peer + ["receive", "--count", "30", "--quiet"])
    code, s_lines, _ = run(peer + ["send", "--url", url, "--count", "30", "--quiet"])
    r_code, r_lines, _ = receiver.finish()
    assert (code, r_code) == (0, 0)
    per_message = {"sent", "accepted", "message", "settled", "sendable"}
    for line in s_lines + r_lines:
        assert line.get("name") not in per_message
    assert events(s_lines, "connection_opened")


def test_direct_request_against_serve_listen(peer: list[str], procs: list[Proc]) -> None:
    server, url = listen(procs, peer + ["serve", "--count", "2"])
    code, lines, _ = run(peer + ["request", "--url", url, "hello", "world"])
    s_code, s_lines, _ = server.finish()
    assert (code, s_code) == (0, 0)
    result = check_output(lines, "request")
    assert result["replies"] == 2 and result["reply_to"]
    replies = events(lines, "message")
    assert {(m["request"], m["body"]) for m in replies} == {("hello", "HELLO"), ("world", "WORLD")}
    assert all(m["to"] == result["reply_to"] for m in replies)
    assert check_output(s_lines, "serve")["served"] == 2
    receiver_links = [e for e in events(lines, "link_opened") if e["role"] == "receiver"]
    assert receiver_links[0]["address"] == result["reply_to"]


def test_hello_listen_is_helloworld_direct(peer: list[str]) -> None:
    code, lines, _ = run(peer + ["hello", "--listen", "--url", "amqp://127.0.0.1:0"])
    assert code == 0
    assert lines[0]["kind"] == "ready"
    assert check_output(lines, "hello")["received"] == ["Hello World!"]
    assert events(lines, "sent")[0]["body"] == "Hello World!"


# ---------------------------------------------------------------- signals


@pytest.mark.parametrize(("count", "ok", "code"), [(0, True, 0), (5, False, 1)])
def test_sigterm_prints_result_and_exits_promptly(
    peer: list[str], procs: list[Proc], count: int, ok: bool, code: int
) -> None:
    p, _ = listen(procs, peer + ["receive", "--count", str(count)])
    t0 = time.monotonic()
    p.popen.send_signal(signal.SIGTERM)
    rc, lines, _ = p.finish(timeout=5)
    assert time.monotonic() - t0 < 1.0
    assert rc == code
    assert check_output(lines, "receive")["ok"] is ok


# --------------------------------------------------------------- reconnect


class CuttingProxy:
    """TCP proxy to 127.0.0.1:port; aborts its first connection after ``cut_after`` bytes one way."""

    def __init__(self, port: int, cut_after: int) -> None:
        self.port, self.cut_after = port, cut_after
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen()
        self.srv.settimeout(0.2)
        self.socks: list[socket.socket] = []
        self.cuts = 0
        self.cut_done = False
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"amqp://127.0.0.1:{self.srv.getsockname()[1]}"

    def _accept(self) -> None:
        first = True
        while not self.stop.is_set():
            try:
                c, _ = self.srv.accept()
            except OSError:
                continue
            u = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            c.settimeout(None)
            u.settimeout(None)
            self.socks += [c, u]
            limit = self.cut_after if first else 0
            first = False
            for a, b, lim in ((c, u, limit), (u, c, limit)):
                threading.Thread(target=self._pipe, args=(a, b, lim, (c, u)), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket, limit: int, pair: tuple) -> None:
        n = 0
        try:
            while data := a.recv(65536):
                b.sendall(data)
                n += len(data)
                if limit and n > limit:
                    with self.lock:
                        if not self.cut_done:
                            self.cut_done = True
                            self.cuts += 1
                    break
        except OSError:
            pass
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        for s in self.socks:
            s.close()
        self.srv.close()


def test_sender_reconnects_and_resends_after_a_cut(peer: list[str], procs: list[Proc]) -> None:
    receiver, url = listen(procs, peer + ["receive", "--count", "300", "--quiet"])
    proxy = CuttingProxy(int(url.rsplit(":", 1)[1]), cut_after=4000)
    try:
        code, s_lines, _ = run(peer + ["send", "--url", proxy.url, "--count", "300", "--quiet"])
        r_code, r_lines, _ = receiver.finish()
    finally:
        proxy.close()
    assert proxy.cuts == 1
    assert (code, r_code) == (0, 0)
    s_res, r_res = check_output(s_lines, "send"), check_output(r_lines, "receive")
    assert s_res["confirmed"] == 300 and s_res["reconnects"] == 1
    assert s_res["sent"] == 300 + s_res["resent"]
    assert r_res["missing"] == [] and r_res["received"] == 300
    assert events(s_lines, "disconnected") and events(r_lines, "disconnected")


# ------------------------------------------------------------------ broker


@pytest.fixture
def broker(procs: list[Proc]) -> str:
    """URL of a fresh embedded broker."""
    if not BROKER.exists():
        pytest.skip(f"{BROKER.relative_to(ROOT)} is not there yet")
    p = start(procs, [sys.executable, str(BROKER), "--port", "0"])
    return p.wait_line("ready")["url"]


def test_broker_hello(peer: list[str], broker: str) -> None:
    code, lines, _ = run(peer + ["hello", "--url", broker])
    assert code == 0
    assert check_output(lines, "hello")["received"] == ["Hello World!"]
    names = [x.get("name") for x in lines if x["kind"] == "event"]
    # the receiver is attached before the sender, and the message is sent only on credit
    assert names.index("link_opened") < names.index("sendable") < names.index("sent")
    first_two = events(lines, "link_opened")[:2]
    assert [e["role"] for e in first_two] == ["receiver", "sender"]


def _role(argv: list[str]) -> str:
    return next(a for a in argv if a in {"hello", "send", "receive", "serve", "request"})


def run_pair(
    procs: list[Proc], consumer: list[str], producer: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """Start the consumer, wait for its ready line, run the producer; both must exit 0."""
    c = start(procs, consumer)
    c.wait_line("ready")
    p_code, p_lines, p_err = run(producer)
    c_code, c_lines, c_err = c.finish()
    assert (p_code, c_code) == (0, 0), (p_lines[-1:], c_lines[-1:], p_err, c_err)
    return (
        check_output(c_lines, _role(consumer)),
        c_lines,
        check_output(p_lines, _role(producer)),
        p_lines,
    )


def test_broker_send_receive(peer: list[str], broker: str, procs: list[Proc]) -> None:
    r_res, r_lines, s_res, _ = run_pair(
        procs,
        peer + ["receive", "--url", broker, "--address", "q1", "--count", "50"],
        peer + ["send", "--url", broker, "--address", "q1", "--count", "50"],
    )
    assert r_res["missing"] == [] and r_res["received"] == 50
    assert s_res["confirmed"] == 50
    assert events(r_lines, "message")[0]["body"] == {"sequence": 1}


def test_broker_request_serve(peer: list[str], broker: str, procs: list[Proc]) -> None:
    s_res, s_lines, q_res, q_lines = run_pair(
        procs,
        peer + ["serve", "--url", broker, "--count", "4"],
        peer + ["request", "--url", broker],
    )
    assert s_res["served"] == 4
    assert q_res["replies"] == 4 and q_res["reply_to"]
    for m in events(q_lines, "message"):
        assert m["body"] == m["request"].upper()
    # the embedded broker offers ANONYMOUS-RELAY: the server's replies go on one anonymous link
    sender_links = [e for e in events(s_lines, "link_opened") if e["role"] == "sender"]
    assert len(sender_links) == 1 and sender_links[0]["address"] is None


@pytest.fixture
def py_peer() -> list[str]:
    if not PY_PEER.exists():
        pytest.skip(f"{PY_PEER.relative_to(ROOT)} is not there yet")
    return [sys.executable, str(PY_PEER)]


def test_cpp_send_python_receive(
    peer: list[str], py_peer: list[str], broker: str, procs: list[Proc]
) -> None:
    r_res, _, s_res, _ = run_pair(
        procs,
        py_peer + ["receive", "--url", broker, "--address", "x1", "--count", "20"],
        peer + ["send", "--url", broker, "--address", "x1", "--count", "20"],
    )
    assert r_res["missing"] == [] and s_res["confirmed"] == 20


def test_python_send_cpp_receive(
    peer: list[str], py_peer: list[str], broker: str, procs: list[Proc]
) -> None:
    r_res, r_lines, s_res, _ = run_pair(
        procs,
        peer + ["receive", "--url", broker, "--address", "x2", "--count", "20"],
        py_peer + ["send", "--url", broker, "--address", "x2", "--count", "20"],
    )
    assert r_res["missing"] == [] and s_res["confirmed"] == 20
    assert events(r_lines, "message")[0]["body"] == {"sequence": 1}


def test_cpp_request_python_serve(
    peer: list[str], py_peer: list[str], broker: str, procs: list[Proc]
) -> None:
    _, _, q_res, q_lines = run_pair(
        procs,
        py_peer + ["serve", "--url", broker, "--count", "4"],
        peer + ["request", "--url", broker],
    )
    assert q_res["replies"] == 4
    assert all(m["body"] == m["request"].upper() for m in events(q_lines, "message"))


def test_python_request_cpp_serve(
    peer: list[str], py_peer: list[str], broker: str, procs: list[Proc]
) -> None:
    s_res, _, q_res, _ = run_pair(
        procs,
        peer + ["serve", "--url", broker, "--count", "4"],
        py_peer + ["request", "--url", broker],
    )
    assert s_res["served"] == 4 and q_res["replies"] == 4


def test_python_send_to_cpp_receive_listen(
    peer: list[str], py_peer: list[str], procs: list[Proc]
) -> None:
    receiver, url = listen(procs, peer + ["receive", "--count", "25"])
    code, s_lines, _ = run(py_peer + ["send", "--url", url, "--count", "25"])
    r_code, r_lines, _ = receiver.finish()
    assert (code, r_code) == (0, 0)
    assert check_output(r_lines, "receive")["missing"] == []
    assert check_output(s_lines, "send")["confirmed"] == 25


@pytest.mark.parametrize("cut", ["sender", "receiver"])
def test_broker_at_least_once_with_a_cut(
    peer: list[str], broker: str, procs: list[Proc], cut: str
) -> None:
    proxy = CuttingProxy(int(broker.rsplit(":", 1)[1]), cut_after=3000)
    try:
        s_url, r_url = (proxy.url, broker) if cut == "sender" else (broker, proxy.url)
        r_res, r_lines, s_res, s_lines = run_pair(
            procs,
            peer + ["receive", "--url", r_url, "--address", "alo", "--count", "400", "--quiet"],
            peer + ["send", "--url", s_url, "--address", "alo", "--count", "400", "--quiet"],
        )
    finally:
        proxy.close()
    assert proxy.cuts == 1
    assert r_res["missing"] == [] and r_res["received"] == 400
    assert s_res["confirmed"] == 400
    cut_lines, cut_res = (s_lines, s_res) if cut == "sender" else (r_lines, r_res)
    assert cut_res["reconnects"] == 1 and events(cut_lines, "disconnected")


def test_user_and_password_use_sasl_plain(peer: list[str], broker: str) -> None:
    port = broker.rsplit(":", 1)[1]
    env = dict(os.environ, PN_TRACE_FRM="1")  # proton's frame trace, on stderr
    proc = subprocess.run(
        peer + ["hello", "--url", f"amqp://guest:secret@127.0.0.1:{port}", "--timeout", "10"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env=env,
        start_new_session=True,
    )
    assert proc.returncode == 0
    assert "mechanism=:PLAIN" in proc.stderr
    assert "\\x00guest\\x00secret" in proc.stderr
