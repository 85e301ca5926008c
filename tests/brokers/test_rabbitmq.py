"""The ``rabbitmq`` provider: an isolated local node, probed, used, restarted and cleaned up."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from proton import Message
from proton.utils import BlockingConnection

from harness.brokers import rabbitmq, rabbitmq_config
from harness.brokers.base import BrokerError
from harness.brokers.probe import probe
from harness.brokers.rabbitmq import RabbitMQBroker, RabbitMQProvider
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART
from harness.env import require


def _need_rabbitmq() -> None:
    reason = RabbitMQProvider().unavailable()
    if reason:
        require(f"rabbitmq provider unavailable: {reason}")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQBroker]:
    """One node for the module: it takes seconds to start."""
    _need_rabbitmq()
    b = RabbitMQProvider().create("rabbitmq", str(tmp_path_factory.mktemp("rabbitmq")))
    assert isinstance(b, RabbitMQBroker)
    try:
        b.start(timeout=90)
        yield b
    finally:
        b.stop()


def _connect(b: RabbitMQBroker) -> BlockingConnection:
    return BlockingConnection(b.url(), timeout=10)


def _send(b: RabbitMQBroker, address: str, *bodies: str) -> None:
    conn = _connect(b)
    try:
        sender = conn.create_sender(address)
        for body in bodies:
            sender.send(Message(body=body, durable=True))
    finally:
        conn.close()


def _receive(b: RabbitMQBroker, address: str, n: int) -> list[str]:
    conn = _connect(b)
    try:
        receiver = conn.create_receiver(address, credit=n)
        out = []
        for _ in range(n):
            out.append(receiver.receive(timeout=10).body)
            receiver.accept()
        return out
    finally:
        conn.close()


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of sockets listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, hexport = local.rsplit(":", 1)
                if state == "0A" and int(hexport, 16) == port:
                    found.append(addr)
    return found


# -- without a node -----------------------------------------------------------


def test_unavailable_names_the_missing_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rabbitmq, "SERVER", "/nonexistent/rabbitmq-server")
    reason = RabbitMQProvider().unavailable()
    assert reason is not None and "rabbitmq-server is not installed" in reason
    assert "\n" not in reason


def test_unavailable_names_the_missing_plugin_on_3x_only(monkeypatch: pytest.MonkeyPatch) -> None:
    _need_rabbitmq()
    monkeypatch.setattr(rabbitmq_config, "plugin_dirs", lambda version: [])
    monkeypatch.setattr(rabbitmq_config, "installed_version", lambda: "3.10.8")
    assert RabbitMQProvider().unavailable() == (
        "the rabbitmq_amqp1_0 plugin is not installed with rabbitmq-server"
    )
    monkeypatch.setattr(rabbitmq_config, "installed_version", lambda: "4.0.5")
    assert RabbitMQProvider().unavailable() is None  # AMQP 1.0 is built into 4.x


def test_spec_takes_no_options(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="takes no options"):
        RabbitMQProvider().create("rabbitmq:x", str(tmp_path))


def test_capabilities_and_addresses_follow_the_version(tmp_path: Path) -> None:
    """3.x: no relay, /amq/queue/NAME; 4.x: ANONYMOUS-RELAY, /queues/NAME; never dynamic."""
    b3 = RabbitMQBroker(str(tmp_path), version="3.10.8")
    assert b3.capabilities == frozenset({RESTART})
    assert b3.convention.name == "rabbitmq-v1" and b3.address("q") == "/amq/queue/q"
    b4 = RabbitMQBroker(str(tmp_path), version="4.0.5")
    assert b4.capabilities == frozenset({RESTART, ANONYMOUS_RELAY})
    assert b4.convention.name == "rabbitmq-v2" and b4.address("q") == "/queues/q"
    for b in (b3, b4):
        assert DYNAMIC not in b.capabilities
        assert (b.user, b.password) == ("guest", "guest")


def test_the_installed_version_is_the_default(tmp_path: Path) -> None:
    assert RabbitMQBroker(str(tmp_path)).version == (rabbitmq_config.installed_version() or "")


def test_address_rejects_names_rabbitmq_cannot_route(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="not usable"):
        RabbitMQBroker(str(tmp_path)).address("a/b")


def test_stop_before_start_is_harmless(tmp_path: Path) -> None:
    b = RabbitMQBroker(str(tmp_path))
    b.stop()
    b.stop()


# -- with the module's node ---------------------------------------------------


@pytest.mark.slow
def test_identity_comes_from_the_open_frame(broker: RabbitMQBroker) -> None:
    assert broker.identity.product == "RabbitMQ"
    assert broker.identity.version == broker.version  # the config was written for what runs
    assert broker.identity.container_id
    again = probe(broker.host, broker.port, 5.0, broker.user, broker.password)
    assert again.version == broker.identity.version


@pytest.mark.slow
def test_every_port_is_on_loopback_only(broker: RabbitMQBroker) -> None:
    for port in (broker.port, broker.dist_port, broker.epmd_port):
        addrs = _listening(port)
        assert addrs, f"nothing listens on {port}"
        # 127.0.0.1 and ::1 as /proc/net/tcp* spell them
        assert set(addrs) <= {"0100007F", "00000000000000000000000001000000"}, addrs


@pytest.mark.slow
def test_send_then_receive(broker: RabbitMQBroker) -> None:
    address = broker.address("q")
    assert address == broker.convention.address_for("q")
    assert address == ("/amq/queue/q" if broker.version.startswith("3.") else "/queues/q")
    _send(broker, address, "one", "two")
    assert _receive(broker, address, 2) == ["one", "two"]


@pytest.mark.slow
def test_receive_first(broker: RabbitMQBroker) -> None:
    address = broker.address("receive-first")
    conn = _connect(broker)
    try:
        receiver = conn.create_receiver(address, credit=1)
        _send(broker, address, "late")
        assert receiver.receive(timeout=10).body == "late"
        receiver.accept()
    finally:
        conn.close()


@pytest.mark.slow
def test_restart_keeps_a_durable_message(broker: RabbitMQBroker) -> None:
    address = broker.address("durable")
    port = broker.port
    _send(broker, address, "kept")
    broker.settle_queues()  # a crash right after declaring can lose the queue
    broker.restart(timeout=90)
    assert broker.port == port
    assert _receive(broker, address, 1) == ["kept"]


@pytest.mark.slow
def test_stop_leaves_no_process_and_no_directory(tmp_path: Path) -> None:
    _need_rabbitmq()
    b = RabbitMQBroker(str(tmp_path))
    try:
        started = time.monotonic()
        b.start(timeout=90)
        assert time.monotonic() - started < 60
        node_dir, port, node = b.dir, b.port, b.nodename
        assert node_dir and os.path.isdir(node_dir)
        assert b.pids()
    finally:
        b.stop()
    assert b.pids() == []
    assert not os.path.exists(node_dir)
    assert list(tmp_path.iterdir()) == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, timeout=10).stdout
    assert node not in ps and node_dir not in ps
    with pytest.raises(BrokerError, match="connection refused"):
        probe("127.0.0.1", port, 2.0)
    b.stop()  # idempotent
