"""The AMQP readiness probe: one-line reasons for each way a port can fail to be a broker."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from harness import resources
from harness.brokers.base import BrokerError
from harness.brokers.probe import probe, wait_ready

EMBEDDED = resources.peer_file("python", "broker.py")


class _Server:
    """A loopback TCP server that answers every connection with ``behaviour``."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.conns.append(conn)  # silent: keep it open, say nothing
            if self.behaviour == "http":
                conn.settimeout(2)
                try:
                    conn.recv(64)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass
                conn.close()

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()
        self.thread.join(timeout=2)
        for c in self.conns:
            c.close()


@pytest.fixture
def http_server() -> Iterator[_Server]:
    s = _Server("http")
    yield s
    s.close()


@pytest.fixture
def silent_server() -> Iterator[_Server]:
    s = _Server("silent")
    yield s
    s.close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fails(port: int, timeout: float) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(BrokerError) as info:
        probe("127.0.0.1", port, timeout)
    return str(info.value), time.monotonic() - started


def test_http_server_is_not_amqp(http_server: _Server) -> None:
    message, took = _fails(http_server.port, 2.0)
    assert (
        message
        == f"127.0.0.1:{http_server.port} is not an AMQP server (it sent b'HTTP/1.1 400...')"
    )
    assert took < 2.5


def test_silent_server_times_out_within_the_timeout(silent_server: _Server) -> None:
    message, took = _fails(silent_server.port, 1.0)
    assert message == f"no AMQP open from 127.0.0.1:{silent_server.port} within 1 s"
    assert 0.9 < took < 2.0


def test_closed_port_is_refused(closed_port: int) -> None:
    message, took = _fails(closed_port, 2.0)
    assert message == f"connection refused at 127.0.0.1:{closed_port}"
    assert took < 1.0


def test_errors_are_one_line(http_server: _Server, closed_port: int) -> None:
    for port in (http_server.port, closed_port):
        message, _ = _fails(port, 1.0)
        assert "\n" not in message


def test_wait_ready_gives_up_with_the_last_reason(closed_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(BrokerError) as info:
        wait_ready("127.0.0.1", closed_port, 0.6, interval=0.1)
    assert time.monotonic() - started < 1.5
    assert str(info.value) == (
        f"broker at 127.0.0.1:{closed_port} not ready within 0.6 s: "
        f"connection refused at 127.0.0.1:{closed_port}"
    )


def test_wait_ready_stops_at_once_when_the_broker_died(closed_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(BrokerError, match="^broker process exited$"):
        wait_ready("127.0.0.1", closed_port, 30, alive=lambda: "broker process exited")
    assert time.monotonic() - started < 1.0


def _start_embedded() -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [sys.executable, str(EMBEDDED), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 10
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            raise AssertionError("embedded broker printed no ready line within 10 s")
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            raise AssertionError("embedded broker exited before its ready line")
        buf += chunk
    ready = json.loads(buf.split(b"\n", 1)[0])
    assert ready["kind"] == "ready"
    return proc, int(ready["url"].rsplit(":", 1)[1])


@pytest.mark.skipif(not EMBEDDED.exists(), reason="peers/python/broker.py not written yet")
def test_embedded_broker_identity() -> None:
    proc, port = _start_embedded()
    try:
        identity = probe("127.0.0.1", port, 5.0)
        assert identity.product == "amqp-interop-broker"
        assert identity.container_id
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def test_a_presettled_delivery_is_not_settled_again(embedded_broker) -> None:
    """RabbitMQ 4's /management replies come settled; accepting one raised IndexError in proton.

    The embedded broker pre-settles on a receiver that asks for snd-settle-mode
    ``settled``: ``settle_if_unsettled`` must send nothing, where proton's
    ``accept()`` fails; an unsettled delivery is still accepted.
    """
    from proton import Message
    from proton.reactor import AtMostOnce
    from proton.utils import BlockingConnection

    from harness.brokers.probe import settle_if_unsettled

    conn = BlockingConnection(f"amqp://127.0.0.1:{embedded_broker.port}", timeout=10)
    try:
        sender = conn.create_sender("presettled-q")
        sender.send(Message(body="one"))
        sender.send(Message(body="two"))
        settled = conn.create_receiver("presettled-q", credit=1, options=AtMostOnce())
        assert settled.receive(timeout=10).body == "one"
        assert settle_if_unsettled(settled) is False
        with pytest.raises(IndexError):
            settled.accept()  # what declare_queue_by_management used to do
        settled.close()
        unsettled = conn.create_receiver("presettled-q", credit=1)
        assert unsettled.receive(timeout=10).body == "two"
        assert settle_if_unsettled(unsettled) is True
    finally:
        conn.close()
