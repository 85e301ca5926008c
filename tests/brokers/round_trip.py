"""A message kept across a broker restart: the check every restartable broker's tests share."""

from __future__ import annotations

from proton import Message
from proton.utils import BlockingConnection

from harness.brokers.base import Broker


def _connect(b: Broker) -> BlockingConnection:
    return BlockingConnection(b.url(), timeout=10)


def assert_kept_across_restart(broker: Broker, address: str) -> None:
    """Send two durable messages, take one, restart on the same port: the other is still there."""
    conn = _connect(broker)
    try:
        sender = conn.create_sender(address)
        sender.send(Message(body="hello", durable=True))
        sender.send(Message(body="kept", durable=True))
        receiver = conn.create_receiver(address, credit=1)
        assert receiver.receive(timeout=10).body == "hello"
        receiver.accept()
    finally:
        conn.close()
    port = broker.port
    broker.settle_queues()  # a crash right after declaring can lose the queue
    broker.restart()
    assert broker.port == port
    conn = _connect(broker)
    try:
        receiver = conn.create_receiver(address, credit=1)
        assert receiver.receive(timeout=10).body == "kept"
        receiver.accept()
    finally:
        conn.close()
