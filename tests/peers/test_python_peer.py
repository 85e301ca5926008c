"""The Python reference peer (peers/python/peer.py) against the contract, on real sockets.

Brokered roles run against the embedded broker; the direct scenario pairs two peers;
a TCP server that never speaks AMQP checks the timeout path.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from unittest.mock import ANY

import pytest

from tests.brokers.test_embedded_broker import (
    PEER,
    Proc,
    port_of,
    processes,
    start_broker,
    start_peer,
)

DEFAULT_REQUESTS = [
    "Twas brillig, and the slithy toves",
    "Did gire and gymble in the wabe.",
    "All mimsy were the borogroves,",
    "And the mome raths outgrabe.",
]


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    with processes() as started:
        yield started


@pytest.fixture
def broker(procs: list[Proc]) -> str:
    _, url = start_broker(procs)
    return url


def names(proc: Proc) -> list[str]:
    return [e["name"] for e in proc.events()]


def story(proc: Proc) -> list[dict[str, object]]:
    """The lines that are not per-message events: what happened to the connection."""
    routine = {"sent", "accepted", "settled", "sendable", "message"}
    return [line for line in proc.lines if line.get("name") not in routine][-15:]


def assert_result_last(proc: Proc) -> None:
    results = [line for line in proc.lines if line.get("kind") == "result"]
    assert len(results) == 1, proc.raw
    assert proc.lines[-1]["kind"] == "result", proc.raw[-3:]


# ---------------------------------------------------------------- brokered roles


def test_hello_world(procs: list[Proc], broker: str) -> None:
    hello = start_peer(procs, "hello", "--url", broker, "--address", "hello-q", "--timeout", "15")
    assert hello.finish() == 0, hello.stderr
    assert_result_last(hello)
    assert hello.result() == {
        "kind": "result",
        "role": "hello",
        "ok": True,
        "received": ["Hello World!"],
        "options": ANY,  # (test_defaults.py checks it)
    }
    order = names(hello)
    assert order[0] == "connection_opened"
    links = hello.events("link_opened")
    # the receiver is attached first; the sender only after its remote attach
    assert [e["role"] for e in links] == ["receiver", "sender"]
    assert order.index("sendable") < order.index("sent") < order.index("message")
    assert hello.events("message")[0]["body"] == "Hello World!"
    assert order[-1] == "connection_closed"


def test_send_and_receive_events(procs: list[Proc], broker: str) -> None:
    receiver = start_peer(procs, "receive", "--url", broker, "--address", "ten", "--count", "10")
    assert receiver.wait_for("ready")["url"] == broker
    sender = start_peer(procs, "send", "--url", broker, "--address", "ten", "--count", "10")
    assert sender.finish() == 0, sender.stderr
    assert receiver.finish() == 0, receiver.stderr
    assert_result_last(sender)
    assert_result_last(receiver)
    assert [e["id"] for e in sender.events("sent")] == list(range(1, 11))
    assert sorted(e["id"] for e in sender.events("accepted")) == list(range(1, 11))
    assert sender.result() == {
        "kind": "result",
        "role": "send",
        "ok": True,
        "count": 10,
        "sent": 10,
        "confirmed": 10,
        "resent": 0,
        "reconnects": 0,
        "options": ANY,
    }
    messages = receiver.events("message")
    assert [m["body"] for m in messages] == [{"sequence": i} for i in range(1, 11)]
    assert not any(m["duplicate"] for m in messages)
    result = receiver.result()
    assert result is not None
    assert (result["ok"], result["received"], result["duplicates"], result["missing"]) == (
        True,
        10,
        0,
        [],
    )


def test_receive_gives_back_what_it_does_not_need(procs: list[Proc], broker: str) -> None:
    sender = start_peer(procs, "send", "--url", broker, "--address", "extra", "--count", "30")
    assert sender.finish() == 0
    first = start_peer(procs, "receive", "--url", broker, "--address", "extra", "--count", "10")
    assert first.finish() == 0
    rest = start_peer(
        procs, "receive", "--url", broker, "--address", "extra", "--count", "30", "--timeout", "3"
    )
    assert rest.finish(10) == 3  # ids 1..10 are gone: consumed by the first receiver
    assert rest.result()["missing"] == list(range(1, 11))
    assert rest.result()["received"] == 20  # nothing beyond the first 10 was lost


@pytest.mark.slow
def test_ten_thousand_messages_through_the_broker(procs: list[Proc], broker: str) -> None:
    common = ["--url", broker, "--address", "bulk", "--count", "10000", "--quiet"]
    receiver = start_peer(procs, "receive", *common, "--timeout", "60")
    receiver.wait_for("ready")
    sender = start_peer(procs, "send", *common, "--timeout", "60")
    assert sender.finish(90) == 0, sender.stderr
    assert receiver.finish(90) == 0, receiver.stderr
    assert sender.result()["confirmed"] == 10000
    result = receiver.result()
    assert result["received"] == 10000 and result["missing"] == []
    assert not receiver.events("message")  # --quiet


def test_request_and_serve_with_dynamic_reply_address(procs: list[Proc], broker: str) -> None:
    server = start_peer(procs, "serve", "--url", broker, "--address", "requests", "--count", "4")
    server.wait_for("ready")
    client = start_peer(procs, "request", "--url", broker, "--address", "requests")
    assert client.finish() == 0, client.stderr
    assert server.finish() == 0, server.stderr
    result = client.result()
    assert result["ok"] and result["requests"] == 4 and result["replies"] == 4
    assert result["reply_to"].startswith("dynamic.")
    # the dynamic receiver is open (with the broker's address) before any request is sent
    order = names(client)
    assert client.events("link_opened")[0]["address"] == result["reply_to"]
    assert order.index("link_opened") < order.index("sent")
    replies = client.events("message")
    assert [(r["request"], r["body"]) for r in replies] == [
        (text, text.upper()) for text in DEFAULT_REQUESTS
    ]
    assert server.result() == {
        "kind": "result",
        "role": "serve",
        "ok": True,
        "served": 4,
        "options": ANY,
    }
    # the broker offers ANONYMOUS-RELAY: one sender with a null target
    assert [e["address"] for e in server.events("link_opened") if e["role"] == "sender"] == [None]
    assert {m["reply_to"] for m in server.events("message")} == {result["reply_to"]}


def test_request_arguments_are_the_requests(procs: list[Proc], broker: str) -> None:
    server = start_peer(procs, "serve", "--url", broker, "--address", "rq2")
    server.wait_for("ready")
    client = start_peer(procs, "request", "--url", broker, "--address", "rq2", "one", "two")
    assert client.finish() == 0, client.stderr
    assert [m["body"] for m in client.events("message")] == ["ONE", "TWO"]
    server.signal(signal.SIGTERM)  # --count 0 serves until killed; that is its normal end
    assert server.finish(5) == 0
    assert server.result()["ok"] is True and server.result()["served"] == 2


# ---------------------------------------------------------------- direct (listen) mode


def test_direct_receive_listens_send_connects(procs: list[Proc]) -> None:
    listener = start_peer(
        procs, "receive", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "5"
    )
    url = listener.wait_for("ready")["url"]
    assert port_of(url) > 0
    sender = start_peer(procs, "send", "--url", url, "--count", "5")
    assert sender.finish() == 0, sender.stderr
    assert listener.finish() == 0, listener.stderr
    assert listener.result()["received"] == 5
    assert sender.result()["confirmed"] == 5


def test_direct_send_listens_receive_connects(procs: list[Proc]) -> None:
    listener = start_peer(procs, "send", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "5")
    url = listener.wait_for("ready")["url"]
    receiver = start_peer(procs, "receive", "--url", url, "--count", "5")
    assert receiver.finish() == 0, receiver.stderr
    assert listener.finish() == 0, listener.stderr
    assert listener.result()["confirmed"] == 5
    assert receiver.result()["missing"] == []


@pytest.mark.parametrize("asked", ["unsettled", "settled"])
def test_direct_send_listener_takes_the_settle_mode_the_receiver_asks(
    procs: list[Proc], asked: str
) -> None:
    """2.7.3: a sender SHOULD take a receiver's desired snd-settle-mode; go-amqp insists.

    Unsettled is granted; settled is not (the send role counts outcomes), so mixed stays."""
    from proton import Link

    from tests.peers.listening import settle_mode_answer

    mode = {"unsettled": Link.SND_UNSETTLED, "settled": Link.SND_SETTLED}[asked]
    listener = start_peer(procs, "send", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "1")
    url = listener.wait_for("ready")["url"]
    answered, _ = settle_mode_answer(url, mode)
    assert answered == (Link.SND_UNSETTLED if asked == "unsettled" else Link.SND_MIXED)


def test_direct_serve_answers_a_dynamic_receiver(procs: list[Proc]) -> None:
    server = start_peer(procs, "serve", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "4")
    url = server.wait_for("ready")["url"]
    client = start_peer(procs, "request", "--url", url, "--address", "examples")
    assert client.finish() == 0, client.stderr
    assert server.finish() == 0, server.stderr
    assert client.result()["replies"] == 4


def test_direct_serve_with_count_0_serves_clients_until_killed(procs: list[Proc]) -> None:
    server = start_peer(procs, "serve", "--listen", "--url", "amqp://127.0.0.1:0")
    url = server.wait_for("ready")["url"]
    for text in ("first", "second"):
        client = start_peer(procs, "request", "--url", url, text)
        assert client.finish() == 0, client.stderr
        assert [m["body"] for m in client.events("message")] == [text.upper()]
    server.signal(signal.SIGTERM)
    assert server.finish(5) == 0
    assert server.result() == {
        "kind": "result",
        "role": "serve",
        "ok": True,
        "served": 2,
        "options": ANY,
    }


def test_hello_direct(procs: list[Proc]) -> None:
    hello = start_peer(procs, "hello", "--listen", "--url", "amqp://127.0.0.1:0")
    assert port_of(hello.wait_for("ready")["url"]) > 0
    assert hello.finish() == 0, hello.stderr
    assert hello.result()["received"] == ["Hello World!"]


# ---------------------------------------------------------------- usage, timeouts, signals


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["send", "--count", "ten"],
        ["send", "--count", "-1"],
        ["send", "--frobnicate"],
        ["send", "--url", "http://127.0.0.1:5672"],
        ["send", "--url", "amqp://127.0.0.1:99999"],
        ["send", "--url", "amqp://:5672"],
        ["receive", "stray-argument"],
        ["send", "--user", "only-user"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(PEER), *argv], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(("error:", "usage:")), done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for sock in held:
            sock.close()
        server.close()


def test_silent_server_times_out_with_exit_3(procs: list[Proc], silent_server: int) -> None:
    url = f"amqp://127.0.0.1:{silent_server}"
    started = time.monotonic()
    peer = start_peer(procs, "send", "--url", url, "--timeout", "1")
    assert peer.finish(10) == 3
    assert time.monotonic() - started < 5
    timeout = [line for line in peer.lines if line["kind"] == "timeout"]
    assert timeout == [{"kind": "timeout", "waiting_for": f"connection to {url}"}]
    assert_result_last(peer)
    assert peer.result()["ok"] is False


def test_waiting_for_names_the_missing_message(procs: list[Proc], broker: str) -> None:
    peer = start_peer(
        procs, "receive", "--url", broker, "--address", "empty", "--count", "10", "--timeout", "1"
    )
    assert peer.finish(10) == 3
    timeout = next(line for line in peer.lines if line["kind"] == "timeout")
    assert timeout["waiting_for"] == "message 1 of 10 on empty"
    assert peer.result()["missing"] == list(range(1, 11))


def test_refused_without_reconnect_exits_1(procs: list[Proc]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    peer = start_peer(procs, "receive", "--url", f"amqp://127.0.0.1:{port}", "--no-reconnect")
    assert peer.finish(10) == 1
    assert peer.events("disconnected")
    assert peer.result()["ok"] is False


def test_sigterm_prints_the_result_promptly(procs: list[Proc], broker: str) -> None:
    peer = start_peer(procs, "receive", "--url", broker, "--address", "sig", "--count", "5")
    peer.wait_for("ready")
    started = time.monotonic()
    peer.signal(signal.SIGTERM)
    assert peer.finish(5) == 1
    assert time.monotonic() - started < 1.0
    assert_result_last(peer)
    assert peer.result()["ok"] is False and "signal" in peer.result()["error"]


# ---------------------------------------------------------------- reconnect


@pytest.mark.slow
def test_broker_restart_mid_stream_loses_nothing(procs: list[Proc], tmp_path) -> None:
    store = str(tmp_path)
    broker, url = start_broker(procs, "--store", store)
    common = ["--url", url, "--address", "restart", "--count", "5000", "--timeout", "60"]
    receiver = start_peer(procs, "receive", *common, "--quiet")
    receiver.wait_for("ready")
    sender = start_peer(procs, "send", *common)
    sender.wait_for("event", name="accepted", id=200)  # mid-stream
    broker.kill()
    time.sleep(0.3)
    _, url2 = start_broker(procs, "--port", str(port_of(url)), "--store", store)
    assert url2 == url
    assert sender.finish(90) == 0, (sender.result(), story(sender), sender.stderr)
    assert receiver.finish(90) == 0, (receiver.result(), story(receiver), receiver.stderr)
    sent, received = sender.result(), receiver.result()
    assert sent["confirmed"] == 5000 and sent["reconnects"] >= 1
    assert received["received"] == 5000 and received["missing"] == []
    assert received["reconnects"] >= 1
    assert sender.events("disconnected") and receiver.events("disconnected")


def test_a_plain_amqp_peer_makes_no_tls_contexts() -> None:
    """proton's TLS contexts cost as much CPU as importing proton at every peer start: only amqps gets them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("amqp_interop_python_peer_tls", PEER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plain = module.make_container(None, "amqp://127.0.0.1:5672")
    assert plain.ssl is None
    secure = module.make_container(None, "amqps://127.0.0.1:5671")
    assert secure.ssl is not None and secure.ssl.client is not None
    import proton._reactor as reactor

    assert reactor.SSLConfig is not sys.modules["plain_amqp"]._NoTLS, "proton is left as it was"
