"""The rhea (JavaScript) reference peer against the contract (peers/CONTRACT.md).

Every test runs real peer processes on 127.0.0.1 and reads their JSON Lines.
Direct (listen) mode needs only the js peer; the broker tests use the embedded
broker (peers/python/broker.py) and the cross-language tests the Python peer,
skipping with a reason when those files are absent. A few tests talk to the
peer with proton's BlockingConnection to check AMQP types exactly (ulong ids,
long body values, uuid and binary ids, correlation ids echoed with their type).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from harness import resources
from harness.env import cache_dir, require
from harness.toolchains import js
from tests.peers.listening import settle_mode_answer
from tests.peers.proc import WAIT_S, Proc

BROKER = resources.peer_file("python", "broker.py")
PY_PEER = resources.peer_file("python", "peer.py")
ROLES = ["hello", "send", "receive", "serve", "request"]


# ---------------------------------------------------------------- processes


@pytest.fixture(scope="module")
def js_argv() -> list[str]:
    reason = js.unavailable()
    if reason:
        require(f"js peer unavailable: {reason}")
    try:
        return js.build(cache_dir() / "peers")
    except RuntimeError as e:
        require(f"js peer build failed: {e}")
        raise


@pytest.fixture
def start(procs: list[Proc]) -> Any:
    def _start(argv: list[str]) -> Proc:
        p = Proc(argv)
        procs.append(p)
        return p

    return _start


@pytest.fixture
def run_js(js_argv: list[str], start: Any) -> Any:
    """Start the js peer: run_js(ROLE, *options) -> Proc."""

    def _run(*args: str) -> Proc:
        return start([*js_argv, *args])

    return _run


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    """The embedded broker for this module: its amqp:// URL."""
    if not BROKER.exists():
        pytest.skip(f"{BROKER} is not there yet")
    p = Proc([sys.executable, str(BROKER), "--port", "0"])
    try:
        yield p.wait_line("ready")["url"]
    finally:
        p.kill()
        for stream in (p.popen.stdout, p.popen.stderr):
            if stream is not None:
                stream.close()


def python_peer(start: Any, *args: str) -> Proc:
    if not PY_PEER.exists():
        pytest.skip(f"{PY_PEER} is not there yet")
    return start([sys.executable, str(PY_PEER), *args])


def result_of(p: Proc, expect_code: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    code, lines, err = p.finish()
    assert lines, f"no output from {p.argv}; stderr: {err}"
    assert lines[-1]["kind"] == "result", lines[-1]
    assert [x["kind"] for x in lines].count("result") == 1
    assert code == expect_code, f"{p.argv} exited {code}: {lines[-1]}; stderr: {err}"
    return lines[-1], lines


def events(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [x for x in lines if x.get("kind") == "event" and x.get("name") == name]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- usage


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["bogus"],
        *[[role, "--bogus"] for role in ROLES],
        *[[role, "--url", "http://127.0.0.1:5672"] for role in ROLES],
        *[[role, "--timeout", "soon"] for role in ROLES],
        ["send", "--count", "x"],
        ["receive", "--count", "-1"],
        ["serve", "--count", "1.5"],
        ["send", "--count", "0"],
        ["request", "--listen"],
        ["send", "extra"],
        ["hello", "--url", "amqp://127.0.0.1:99999"],
        ["receive", "--url", "amqp://127.0.0.1:0"],
        ["send", "--address"],
        ["send", "--quiet=yes"],
    ],
)
def test_bad_arguments_exit_2_with_one_usage_line(js_argv: list[str], args: list[str]) -> None:
    proc = subprocess.run(
        [*js_argv, *args], capture_output=True, text=True, timeout=WAIT_S, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(("usage:", "error:"))


# ---------------------------------------------------------------- timeout


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(timeout=5)
        for c in held:
            c.close()
        srv.close()


@pytest.mark.parametrize("role", ROLES)
def test_timeout_names_what_it_waited_for(run_js: Any, silent_server: int, role: str) -> None:
    t0 = time.monotonic()
    p = run_js(role, "--url", f"amqp://127.0.0.1:{silent_server}", "--timeout", "1")
    result, lines = result_of(p, expect_code=3)
    assert time.monotonic() - t0 < 10
    assert lines[-2]["kind"] == "timeout"
    assert "127.0.0.1" in lines[-2]["waiting_for"]
    assert result["ok"] is False and result["role"] == role


def test_no_reconnect_to_a_closed_port_fails(run_js: Any) -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    p = run_js("send", "--url", f"amqp://127.0.0.1:{port}", "--no-reconnect", "--timeout", "10")
    result, lines = result_of(p, expect_code=1)
    assert events(lines, "disconnected")
    assert "ECONNREFUSED" in result["error"]


# ---------------------------------------------------------------- direct (no broker)


def test_direct_receive_listen_and_send_100(run_js: Any) -> None:
    listener = run_js("receive", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "100")
    url = listener.wait_line("ready")["url"]
    assert url.startswith("amqp://127.0.0.1:") and not url.endswith(":0")
    sender = run_js("send", "--url", url, "--count", "100")
    sent, sender_lines = result_of(sender)
    received, receiver_lines = result_of(listener)
    assert sent == {
        "kind": "result",
        "role": "send",
        "ok": True,
        "count": 100,
        "sent": 100,
        "confirmed": 100,
        "resent": 0,
        "reconnects": 0,
        "options": ANY,  # (test_defaults.py checks it)
    }
    assert received["ok"] and received["received"] == 100 and received["missing"] == []
    assert received["duplicates"] == 0
    messages = events(receiver_lines, "message")
    assert [m["id"] for m in messages] == list(range(1, 101))
    assert messages[0]["body"] == {"sequence": 1}
    assert len(events(sender_lines, "accepted")) == 100


def test_direct_send_listen_and_receive(run_js: Any) -> None:
    listener = run_js("send", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "20")
    url = listener.wait_line("ready")["url"]
    receiver = run_js("receive", "--url", url, "--count", "20", "--quiet")
    received, lines = result_of(receiver)
    sent, _ = result_of(listener)
    assert received["received"] == 20 and sent["confirmed"] == 20
    assert not events(lines, "message")  # --quiet


@pytest.mark.parametrize(("asked", "answered"), [(0, 0), (1, 2)], ids=["unsettled", "settled"])
def test_send_listener_answers_the_settle_mode_asked(
    run_js: Any, asked: int, answered: int
) -> None:
    """2.7.3: the receiver initiating the attach sets the snd-settle-mode it desires at the
    sender, which SHOULD respect it (go-amqp refuses any other answer to unsettled); a receiver
    asking settled keeps rhea's mixed, because the send role counts outcomes."""
    listener = run_js("send", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "1")
    url = listener.wait_line("ready")["url"]
    assert settle_mode_answer(url, asked) == (answered, False)
    sent, _ = result_of(listener)
    assert sent["confirmed"] == 1


def test_direct_serve_listen_and_request(run_js: Any) -> None:
    server = run_js("serve", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "4")
    url = server.wait_line("ready")["url"]
    client = run_js("request", "--url", url)
    result, lines = result_of(client)
    served, _ = result_of(server)
    assert result["replies"] == 4 and served["served"] == 4
    assert result["reply_to"].startswith("js-dynamic-")
    replies = events(lines, "message")
    assert all(m["body"] == m["request"].upper() for m in replies)


def test_hello_listen_talks_to_itself(run_js: Any) -> None:
    p = run_js("hello", "--listen", "--url", "amqp://127.0.0.1:0")
    result, lines = result_of(p)
    assert lines[0]["kind"] == "ready"
    assert result["received"] == ["Hello World!"]
    names = [x.get("name") for x in lines if x["kind"] == "event"]
    assert names.index("link_opened") < names.index("sendable") < names.index("sent")
    assert names.index("sent") < names.index("message")


def test_sigterm_prints_the_result_promptly(run_js: Any) -> None:
    p = run_js("receive", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "0")
    p.wait_line("ready")
    t0 = time.monotonic()
    p.popen.send_signal(signal.SIGTERM)
    result, _ = result_of(p, expect_code=0)  # --count 0: running until killed is the job
    assert time.monotonic() - t0 < 2
    assert result["ok"] is True and result["received"] == 0


def test_sigint_before_done_is_not_ok(run_js: Any) -> None:
    p = run_js("receive", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "5")
    p.wait_line("ready")
    p.popen.send_signal(signal.SIGINT)
    result, _ = result_of(p, expect_code=1)
    assert result["ok"] is False and result["missing"] == [1, 2, 3, 4, 5]


def test_sasl_plain_in_listen_mode(run_js: Any) -> None:
    listener = run_js(
        "receive", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "2",
        "--user", "u", "--password", "p",
    )  # fmt: skip
    url = listener.wait_line("ready")["url"]
    bad = run_js("send", "--url", url, "--count", "2", "--user", "u", "--password", "wrong")
    result, lines = result_of(bad, expect_code=1)
    assert events(lines, "transport_error")
    good = run_js("send", "--url", url.replace("amqp://", "amqp://u:p@"), "--count", "2")
    assert result_of(good)[0]["confirmed"] == 2
    assert result_of(listener)[0]["received"] == 2


# ---------------------------------------------------------------- AMQP types, via proton


def _proton() -> Any:
    return pytest.importorskip("proton.utils")


def test_send_uses_ulong_ids_and_long_values(run_js: Any) -> None:
    utils = _proton()
    import proton

    listener = run_js("send", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "3")
    url = listener.wait_line("ready")["url"]
    conn = utils.BlockingConnection(url, timeout=WAIT_S)
    try:
        rcv = conn.create_receiver("examples", credit=3)
        got = []
        for _ in range(3):
            got.append(rcv.receive(timeout=WAIT_S))
            rcv.accept()  # settles the oldest unsettled delivery
    finally:
        conn.close()
    for i, msg in enumerate(got, 1):
        # proton hands a ulong message-id back as int (a string id would be str)
        assert type(msg.id) in (int, proton.ulong) and msg.id == i
        assert msg.body == {"sequence": i}
        assert type(msg.body["sequence"]) is int  # AMQP long, not int32/uint/double
    result, _ = result_of(listener)
    assert result["confirmed"] == 3


def test_receive_prints_uuid_binary_and_string_ids(run_js: Any) -> None:
    utils = _proton()
    from proton import Message

    listener = run_js("receive", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "3")
    url = listener.wait_line("ready")["url"]
    u = uuid.UUID("12345678-1234-5678-9abc-def012345678")
    conn = utils.BlockingConnection(url, timeout=WAIT_S)
    try:
        snd = conn.create_sender("examples")
        snd.send(Message(id=u, body="a"))
        snd.send(Message(id=b"\x01\x02", body=b"\xff\x00"))
        snd.send(Message(id="three", body={"k": [1, "x"]}))
    finally:
        conn.close()
    _, lines = result_of(listener)
    msgs = events(lines, "message")
    assert [m["id"] for m in msgs] == [str(u), "0102", "three"]
    assert [m["body"] for m in msgs] == ["a", "ff00", {"k": [1, "x"]}]


def test_serve_echoes_correlation_ids_with_their_type(run_js: Any) -> None:
    utils = _proton()
    from proton import Message

    server = run_js("serve", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "3")
    url = server.wait_line("ready")["url"]
    conn = utils.BlockingConnection(url, timeout=WAIT_S)
    u = uuid.uuid4()
    try:
        rcv = conn.create_receiver(None, dynamic=True, credit=10)
        reply_to = rcv.link.remote_source.address
        assert reply_to
        snd = conn.create_sender("examples")
        snd.send(Message(correlation_id=u, reply_to=reply_to, body="one"))
        snd.send(Message(correlation_id=b"\x07", reply_to=reply_to, body="two"))
        snd.send(Message(id=42, reply_to=reply_to, body="three"))  # no correlation: use the id
        replies = []
        for _ in range(3):
            replies.append(rcv.receive(timeout=WAIT_S))
            rcv.accept()
    finally:
        conn.close()
    assert [r.body for r in replies] == ["ONE", "TWO", "THREE"]
    assert replies[0].correlation_id == u
    assert replies[1].correlation_id == b"\x07"
    assert replies[2].correlation_id == 42
    assert result_of(server)[0]["served"] == 3


# ---------------------------------------------------------------- through the embedded broker


def test_hello_through_the_broker(run_js: Any, broker: str) -> None:
    result, lines = result_of(run_js("hello", "--url", broker, "--address", unique("hello")))
    assert result["received"] == ["Hello World!"]
    opened = events(lines, "connection_opened")
    assert opened and opened[0]["container"]
    assert events(lines, "connection_closed")


def test_send_then_receive_through_the_broker(run_js: Any, broker: str) -> None:
    address = unique("q")
    sent, _ = result_of(run_js("send", "--url", broker, "--address", address, "--count", "50"))
    assert sent["confirmed"] == 50
    received, _ = result_of(
        run_js("receive", "--url", broker, "--address", address, "--count", "50")
    )
    assert received["received"] == 50 and received["missing"] == []


def test_receive_prints_ready_once_attached(run_js: Any, broker: str) -> None:
    address = unique("q")
    rcv = run_js("receive", "--url", broker, "--address", address, "--count", "5")
    ready = rcv.wait_line("ready")
    assert ready["url"] == broker
    assert events(rcv.lines, "link_opened")  # the link was open before ready
    sent, _ = result_of(run_js("send", "--url", broker, "--address", address, "--count", "5"))
    assert sent["confirmed"] == 5
    assert result_of(rcv)[0]["received"] == 5


def test_serve_and_request_through_the_broker(run_js: Any, broker: str) -> None:
    address = unique("requests")
    server = run_js("serve", "--url", broker, "--address", address, "--count", "2")
    server.wait_line("ready")
    client = run_js("request", "--url", broker, "--address", address, "one", "two")
    result, lines = result_of(client)
    assert result["replies"] == 2 and result["requests"] == 2
    assert [m["body"] for m in events(lines, "message")] == ["ONE", "TWO"]
    served, server_lines = result_of(server)
    assert served["served"] == 2
    # the embedded broker offers ANONYMOUS-RELAY: one reply link with a null target
    reply_links = [x for x in events(server_lines, "link_opened") if x["role"] == "sender"]
    assert len(reply_links) == 1 and reply_links[0]["address"] is None


# ---------------------------------------------------------------- with the Python peer


@pytest.mark.parametrize("sender,receiver", [("js", "python"), ("python", "js")])
def test_send_receive_with_the_python_peer(
    run_js: Any, start: Any, broker: str, sender: str, receiver: str
) -> None:
    address = unique("x")
    common = ["--url", broker, "--address", address, "--count", "30"]

    def peer(impl: str, *args: str) -> Proc:
        return run_js(*args) if impl == "js" else python_peer(start, *args)

    rcv = peer(receiver, "receive", *common)
    rcv.wait_line("ready")
    snd = peer(sender, "send", *common)
    sent, _ = result_of(snd)
    received, lines = result_of(rcv)
    assert sent["confirmed"] == 30
    assert received["received"] == 30 and received["missing"] == []
    first = events(lines, "message")[0]
    assert first["id"] == 1 and first["body"] == {"sequence": 1}


@pytest.mark.parametrize("server_impl,client_impl", [("js", "python"), ("python", "js")])
def test_request_serve_with_the_python_peer(
    run_js: Any, start: Any, broker: str, server_impl: str, client_impl: str
) -> None:
    address = unique("rpc")
    common = ["--url", broker, "--address", address]

    def peer(impl: str, *args: str) -> Proc:
        return run_js(*args) if impl == "js" else python_peer(start, *args)

    server = peer(server_impl, "serve", *common, "--count", "4")
    server.wait_line("ready")
    client = peer(client_impl, "request", *common)
    result, _ = result_of(client)
    assert result["replies"] == 4
    assert result_of(server)[0]["served"] == 4


# ---------------------------------------------------------------- at-least-once


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def test_sender_resends_after_a_broker_restart(run_js: Any, start: Any, tmp_path: Path) -> None:
    if not BROKER.exists():
        pytest.skip(f"{BROKER} is not there yet")
    port = _free_port()
    store = tmp_path / "store"
    broker_argv = [sys.executable, str(BROKER), "--port", str(port), "--store", str(store)]
    first = start(broker_argv)
    url = first.wait_line("ready")["url"]
    snd = run_js("send", "--url", url, "--address", "alo", "--count", "3000", "--timeout", "60")
    snd.wait_line("event")  # connected
    deadline = time.monotonic() + WAIT_S
    while len(events(snd.lines, "accepted")) < 50 and time.monotonic() < deadline:
        snd.read_line(deadline)
    first.kill()
    time.sleep(0.3)
    second = start(broker_argv)
    second.wait_line("ready")
    sent, lines = result_of(snd)
    assert sent["confirmed"] == 3000 and sent["reconnects"] >= 1
    assert events(lines, "disconnected")
    rcv = run_js("receive", "--url", url, "--address", "alo", "--count", "3000", "--quiet")
    received, _ = result_of(rcv)
    assert received["missing"] == []
