"""The embedded reference broker (peers/python/broker.py) on real sockets.

Clients are proton's BlockingConnection (or a reactor handler where credit must be
exact); the broker always runs as a subprocess in its own process group, killed in a
finally block. The process helpers here are shared with tests/peers.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from proton import Delivery, Message, Timeout, symbol
from proton.handlers import MessagingHandler
from proton.utils import BlockingConnection, SendException

ROOT = Path(__file__).resolve().parents[2]
BROKER = ROOT / "peers" / "python" / "broker.py"
PEER = ROOT / "peers" / "python" / "peer.py"
WAIT_S = 20.0  # generous: 2 cores and xdist workers


# ---------------------------------------------------------------- process helpers


class Proc:
    """A child process in its own process group; stdout read as JSON Lines by a thread."""

    def __init__(self, argv: list[str], cwd: Path = ROOT) -> None:
        self.argv = argv
        self.popen = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: list[bytes] = []
        self._reader = threading.Thread(target=self._pump_stdout, daemon=True)
        self._reader.start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump_stdout(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            self.raw.append(text)
            try:
                obj = json.loads(text)
            except ValueError:
                obj = {"kind": "not-json", "text": text}
            self.lines.append(obj)
            self._queue.put(obj)
        self._queue.put(None)

    def _pump_stderr(self) -> None:
        assert self.popen.stderr is not None
        for raw in self.popen.stderr:
            self._stderr.append(raw)

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def wait_for(self, kind: str, timeout: float = WAIT_S, **match: Any) -> dict[str, Any]:
        """The next line of this kind (and matching fields); fail with what came instead."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                obj = self._queue.get(timeout=max(0.0, left))
            except queue.Empty:
                raise AssertionError(
                    f"no {kind} line from {self.argv[1:3]} within {timeout} s; "
                    f"got {self.raw[-5:]}; stderr: {self.stderr[-800:]}"
                ) from None
            if obj is None:
                raise AssertionError(
                    f"{self.argv[1:3]} ended before a {kind} line; got {self.raw[-5:]};"
                    f" stderr: {self.stderr[-800:]}"
                )
            if obj.get("kind") == kind and all(obj.get(k) == v for k, v in match.items()):
                return obj

    def finish(self, timeout: float = WAIT_S) -> int:
        """Wait for the exit; return the code (stdout fully read)."""
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.argv[1:3]} still running after {timeout} s; last: {self.raw[-5:]}"
            ) from None
        self._reader.join(5)  # every line the process wrote has been read
        return rc

    def result(self) -> dict[str, Any] | None:
        for obj in reversed(self.lines):
            if obj.get("kind") == "result":
                return obj
        return None

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [
            o
            for o in self.lines
            if o.get("kind") == "event" and (name is None or o["name"] == name)
        ]

    def signal(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            os.kill(self.popen.pid, signum)

    def kill(self) -> None:
        """Kill the whole process group; safe to call twice."""
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


@contextmanager
def processes() -> Iterator[list[Proc]]:
    """Collects Procs; every one of them is killed on the way out, whatever happened."""
    procs: list[Proc] = []
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()


def start_broker(procs: list[Proc], *args: str) -> tuple[Proc, str]:
    broker = Proc([sys.executable, str(BROKER), *args])
    procs.append(broker)
    ready = broker.wait_for("ready", timeout=10)
    return broker, ready["url"]


def start_peer(procs: list[Proc], role: str, *args: str) -> Proc:
    peer = Proc([sys.executable, str(PEER), role, *args])
    procs.append(peer)
    return peer


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture
def broker_url() -> Iterator[str]:
    with processes() as procs:
        _, url = start_broker(procs)
        yield url


@contextmanager
def blocking(url: str, timeout: float = 10, **kwargs: Any) -> Iterator[BlockingConnection]:
    conn = BlockingConnection(url, timeout=timeout, **kwargs)
    try:
        yield conn
    finally:
        with suppress(Exception):
            conn.close()


def pump(conn: BlockingConnection, seconds: float, until: Any = None) -> None:
    """Run the blocking connection's reactor for a while (or until a condition holds)."""
    with suppress(Timeout):
        conn.wait(until or (lambda: False), timeout=seconds)


class Collector(MessagingHandler):
    """A receiver handler with no automatic credit and no automatic settlement."""

    def __init__(self) -> None:
        super().__init__(prefetch=0, auto_accept=False)
        self.messages: list[Message] = []
        self.deliveries: list[Any] = []

    def on_message(self, event: Any) -> None:
        self.messages.append(event.message)
        self.deliveries.append(event.delivery)


def send_all(conn: BlockingConnection, address: str | None, messages: list[Message]) -> None:
    sender = conn.create_sender(address)
    for msg in messages:
        sender.send(msg, timeout=10)
    sender.close()


# ---------------------------------------------------------------- start, identity, stop


def test_ready_line_has_real_port_and_identity() -> None:
    with processes() as procs:
        broker, url = start_broker(procs)
        ready = broker.lines[0]
        assert ready["product"] == "amqp-interop-broker"
        assert ready["version"] == "0.1.0"
        assert url.startswith("amqp://127.0.0.1:")
        assert port_of(url) > 0
        socket.create_connection(("127.0.0.1", port_of(url)), timeout=5).close()
        assert len(broker.lines) == 1  # one line, nothing else on stdout


def test_open_frame_carries_product_version_and_anonymous_relay(broker_url: str) -> None:
    with blocking(broker_url) as conn:
        props = conn.conn.remote_properties
        assert props[symbol("product")] == "amqp-interop-broker"
        assert props[symbol("version")] == "0.1.0"
        assert symbol("ANONYMOUS-RELAY") in conn.conn.remote_offered_capabilities
        assert conn.conn.remote_container == "amqp-interop-broker"


def test_sasl_plain_with_any_credentials(broker_url: str) -> None:
    with blocking(
        broker_url,
        user="someone",
        password="anything",
        allowed_mechs="PLAIN",
        allow_insecure_mechs=True,
    ) as conn:
        send_all(conn, "plain", [Message(body="x")])
        receiver = conn.create_receiver("plain")
        assert receiver.receive(timeout=5).body == "x"
        receiver.accept()


def test_sigterm_stops_within_one_second() -> None:
    with processes() as procs:
        broker, url = start_broker(procs)
        with blocking(url, timeout=2) as conn:  # its close will not be answered
            conn.create_receiver("held")
            started = time.monotonic()
            broker.signal(signal.SIGTERM)
            rc = broker.finish(timeout=5)
            assert time.monotonic() - started < 1.0
            assert rc == 0


def test_sigterm_under_load_stops_within_one_second() -> None:
    with processes() as procs:
        broker, url = start_broker(procs)
        common = ["--url", url, "--address", "load", "--count", "50000", "--quiet"]
        receiver = start_peer(procs, "receive", *common)
        receiver.wait_for("ready")
        start_peer(procs, "send", *common)
        time.sleep(1.0)  # mid-stream: events are being handled when the signal comes
        started = time.monotonic()
        broker.signal(signal.SIGTERM)
        assert broker.finish(timeout=5) == 0
        assert time.monotonic() - started < 1.0


# ---------------------------------------------------------------- queues and routing


def test_queue_created_on_demand(broker_url: str) -> None:
    with blocking(broker_url) as conn:
        send_all(conn, "on-demand", [Message(id=i, body=f"m{i}") for i in range(3)])
        receiver = conn.create_receiver("on-demand", credit=3)
        bodies = []
        for _ in range(3):
            bodies.append(receiver.receive(timeout=5).body)
            receiver.accept()
        assert bodies == ["m0", "m1", "m2"]


def test_dynamic_addresses_are_unique_and_answered(broker_url: str) -> None:
    with blocking(broker_url) as conn:
        first = conn.create_receiver(None, dynamic=True)
        second = conn.create_receiver(None, dynamic=True)
        a = first.link.remote_source.address
        b = second.link.remote_source.address
        assert a and b and a != b
        assert a.startswith("dynamic.")
        # reachable by address through the anonymous relay
        send_all(conn, None, [Message(address=b, body="to b")])
        assert second.receive(timeout=5).body == "to b"
        second.accept()


def test_dynamic_queue_removed_with_its_last_consumer(broker_url: str) -> None:
    with blocking(broker_url) as conn:
        collector = Collector()  # no credit: messages stay queued
        dyn = conn.create_receiver(None, dynamic=True, handler=collector, credit=0)
        address = dyn.link.remote_source.address
        send_all(conn, None, [Message(address=address, body=i) for i in range(2)])
        dyn.close()
        later = conn.create_receiver(address, credit=5)
        with pytest.raises(Timeout):
            later.receive(timeout=0.5)


def test_anonymous_relay_routes_by_to(broker_url: str) -> None:
    with blocking(broker_url) as conn:
        relay = conn.create_sender(None)
        relay.send(Message(address="relay-a", body="A"), timeout=5)
        relay.send(Message(address="relay-b", body="B"), timeout=5)
        with pytest.raises(SendException) as info:
            relay.send(Message(body="nowhere"), timeout=5)
        assert info.value.state == Delivery.REJECTED
        for address, body in (("relay-a", "A"), ("relay-b", "B")):
            receiver = conn.create_receiver(address)
            assert receiver.receive(timeout=5).body == body
            receiver.accept()


def test_competing_consumers_round_robin(broker_url: str) -> None:
    with blocking(broker_url) as one, blocking(broker_url) as two, blocking(broker_url) as prod:
        ca, cb = Collector(), Collector()
        ra = one.create_receiver("rr", handler=ca, credit=0)
        rb = two.create_receiver("rr", handler=cb, credit=0)
        ra.link.flow(10)
        rb.link.flow(10)
        pump(one, 0.2)
        pump(two, 0.2)
        send_all(prod, "rr", [Message(id=i, body=i) for i in range(10)])
        pump(one, 5, lambda: len(ca.messages) >= 5)
        pump(two, 5, lambda: len(cb.messages) >= 5)
        ids_a = [m.id for m in ca.messages]
        ids_b = [m.id for m in cb.messages]
        assert len(ids_a) == 5 and len(ids_b) == 5
        assert sorted(ids_a + ids_b) == list(range(10))


def test_credit_is_respected(broker_url: str) -> None:
    with blocking(broker_url) as conn:
        send_all(conn, "credit", [Message(id=i, body=i) for i in range(4)])
        collector = Collector()
        receiver = conn.create_receiver("credit", handler=collector, credit=0)
        receiver.link.flow(1)
        pump(conn, 0.5)
        assert [m.id for m in collector.messages] == [0]
        receiver.link.flow(1)
        pump(conn, 5, lambda: len(collector.messages) >= 2)
        pump(conn, 0.3)
        assert [m.id for m in collector.messages] == [0, 1]
        receiver.link.flow(10)
        pump(conn, 5, lambda: len(collector.messages) >= 4)
        assert [m.id for m in collector.messages] == [0, 1, 2, 3]


# ---------------------------------------------------------------- at-least-once


def test_released_message_goes_back_to_the_head(broker_url: str) -> None:
    with blocking(broker_url) as conn:
        send_all(conn, "release", [Message(id=i, body=i) for i in range(2)])
        collector = Collector()
        receiver = conn.create_receiver("release", handler=collector, credit=0)
        for outcome in (Delivery.RELEASED, Delivery.MODIFIED, Delivery.ACCEPTED):
            seen = len(collector.messages)
            receiver.link.flow(1)
            pump(conn, 5, lambda seen=seen: len(collector.messages) > seen)
            collector.deliveries[-1].update(outcome)
            collector.deliveries[-1].settle()
            pump(conn, 0.2)  # the outcome reaches the broker before the next credit does
        receiver.link.flow(1)
        pump(conn, 5, lambda: len(collector.messages) >= 4)
        assert [m.id for m in collector.messages] == [0, 0, 0, 1]


def test_unsettled_deliveries_redelivered_after_detach(broker_url: str) -> None:
    with blocking(broker_url) as conn:
        send_all(conn, "redeliver", [Message(id=i, body=i) for i in range(3)])
        collector = Collector()
        first = conn.create_receiver("redeliver", handler=collector, credit=0)
        first.link.flow(3)
        pump(conn, 5, lambda: len(collector.messages) >= 3)
        first.close()  # never settled
        second = conn.create_receiver("redeliver", credit=3)
        ids = []
        for _ in range(3):
            ids.append(second.receive(timeout=5).id)
            second.accept()
        assert ids == [0, 1, 2]


CONSUMER_THEN_HANG = """
import sys, time
from proton import Timeout
from proton.utils import BlockingConnection
conn = BlockingConnection(sys.argv[1], timeout=10)
rcv = conn.create_receiver("abrupt", credit=5)
got = [rcv.receive(timeout=10).id for _ in range(2)]
print("got", got, flush=True)
time.sleep(60)
"""


def test_unsettled_deliveries_redelivered_after_abrupt_disconnect(broker_url: str) -> None:
    with processes() as procs, blocking(broker_url) as conn:
        send_all(conn, "abrupt", [Message(id=i, body=i) for i in range(2)])
        consumer = Proc([sys.executable, "-c", CONSUMER_THEN_HANG, broker_url])
        procs.append(consumer)
        deadline = time.monotonic() + WAIT_S
        while not consumer.raw and time.monotonic() < deadline:
            time.sleep(0.05)
        assert consumer.raw and consumer.raw[0].startswith("got [0, 1]")
        consumer.kill()  # the TCP connection goes away without a close frame
        receiver = conn.create_receiver("abrupt", credit=2)
        ids = []
        for _ in range(2):
            ids.append(receiver.receive(timeout=5).id)
            receiver.accept()
        assert ids == [0, 1]


def test_transfers_without_payload_are_released_and_credit_replenished(broker_url: str) -> None:
    # proton clients re-send deliveries left unsettled by a lost connection as transfers
    # without payload; the broker must neither store nor accept them, nor lose credit
    with blocking(broker_url) as conn:
        sender = conn.create_sender("empty")
        link = sender.link
        empties = []
        for i in range(1200):  # more than the broker's credit window
            pump(conn, 5, lambda: link.credit > 0)
            empties.append(link.delivery(f"empty-{i}"))
            link.advance()
        pump(conn, 5, lambda: all(d.remote_state for d in empties))
        assert {d.remote_state for d in empties} == {Delivery.RELEASED}
        sender.send(Message(id="real", body="real"), timeout=5)
        receiver = conn.create_receiver("empty", credit=5)
        assert receiver.receive(timeout=5).id == "real"
        receiver.accept()
        with pytest.raises(Timeout):
            receiver.receive(timeout=0.3)


def test_garbage_and_abrupt_clients_do_not_hurt_the_broker(broker_url: str) -> None:
    port = port_of(broker_url)
    for payload in (
        b"GET / HTTP/1.0\r\n\r\n",
        b"AMQP\x00\x01\x00\x00\x00\x00\x00\x10garbage!garbage!",
        b"AMQP\x03\x01\x00\x00\x00\x00\x00\x0a\x02\x01\x00\x00\x00\x00",
        b"AMQP\x03",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(payload)
    with blocking(broker_url) as conn:
        send_all(conn, "still-up", [Message(body="ok")])
        receiver = conn.create_receiver("still-up")
        assert receiver.receive(timeout=5).body == "ok"
        receiver.accept()


def test_a_client_silent_in_sasl_is_dropped_and_the_broker_goes_on() -> None:
    """Past the SASL deadline the silent socket is closed, and only it: the deadline once
    took the whole broker down (proton's IOHandler read the transport the socket had not
    got yet), which stalled every later cell on that broker until its timeout."""
    with processes() as procs:
        broker, url = start_broker(procs, "--sasl-deadline", "0.3")
        port = port_of(url)
        silent = socket.create_connection(("127.0.0.1", port), timeout=5)
        header_only = socket.create_connection(("127.0.0.1", port), timeout=5)
        header_only.sendall(b"AMQP\x03\x01\x00\x00")  # then nothing: no sasl-init
        try:
            for sock in (silent, header_only):
                sock.settimeout(5)
                got = b""
                while chunk := sock.recv(4096):  # until the broker closes it
                    got += chunk
                assert got in (b"", b"AMQP\x03\x01\x00\x00" + got[8:])
            assert broker.popen.poll() is None, broker.stderr
            # the log line is written before the close, but read by the test's own thread
            deadline = time.monotonic() + WAIT_S
            while "no handshake" not in broker.stderr and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "no handshake within 0.3 s" in broker.stderr
            with blocking(url) as conn:
                send_all(conn, "after-silence", [Message(body="ok")])
                receiver = conn.create_receiver("after-silence")
                assert receiver.receive(timeout=5).body == "ok"
                receiver.accept()
        finally:
            silent.close()
            header_only.close()


def test_restart_with_store_keeps_unremoved_messages(tmp_path) -> None:
    store = str(tmp_path)
    with processes() as procs:
        broker, url = start_broker(procs, "--store", store)
        with blocking(url) as conn:
            send_all(conn, "durable", [Message(id=i, body={"sequence": i}) for i in range(1, 6)])
            receiver = conn.create_receiver("durable", credit=1)
            for expected in (1, 2):
                assert receiver.receive(timeout=5).id == expected
                receiver.accept()
            pump(conn, 0.3)
        broker.kill()  # SIGKILL: no orderly shutdown
        _, url2 = start_broker(procs, "--port", str(port_of(url)), "--store", store)
        assert url2 == url
        with blocking(url2) as conn:
            receiver = conn.create_receiver("durable", credit=5)
            ids = []
            for _ in range(3):
                msg = receiver.receive(timeout=5)
                ids.append(msg.id)
                assert msg.body == {"sequence": msg.id}
                receiver.accept()
            with pytest.raises(Timeout):
                receiver.receive(timeout=0.3)
        assert ids == [3, 4, 5]
