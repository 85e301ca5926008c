"""The Python sender's slices: the tutorial's ``while sender.credit`` loop, a bounded part a turn.

Why: RabbitMQ 3.10 grants 65,536 credit in one flow. In one reactor callback proton
writes nothing and reads no disposition, so a sender that spends all of it at once
has tens of thousands of messages unconfirmed when a cut comes (the long run resent
640,839 of them). Here the sender runs against stand-ins for proton's link and
container, without sockets: it sends SEND_SLICE, schedules the rest, and a slice that
was due on a connection lost since then sends nothing.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from harness import resources


def _module() -> Any:
    path = resources.peer_file("python", "peer.py")
    spec = importlib.util.spec_from_file_location("amqp_interop_python_peer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peer = _module()


class _Delivery:
    pass


class _Sender:
    name = "s"

    def __init__(self, credit: int) -> None:
        self.credit = credit
        self.sent: list[int] = []

    def send(self, message: Any) -> _Delivery:
        self.credit -= 1
        self.sent.append(message.id)
        return _Delivery()


class _Container:
    def __init__(self) -> None:
        self.timers: list[Any] = []

    def schedule(self, delay: float, handler: Any) -> None:
        assert delay == 0
        self.timers.append(handler)

    def fire(self) -> None:
        timers, self.timers = self.timers, []
        for t in timers:
            t.on_timer_task(None)


class _Event:
    def __init__(self, sender: _Sender) -> None:
        self.sender = sender


def _sender_peer(count: int) -> tuple[Any, _Container]:
    opts = peer.parse_options(["send", "--count", str(count), "--quiet"])
    p = peer.Send(opts, peer.Output(quiet=True))
    p.container = _Container()
    return p, p.container


def test_a_large_grant_is_spent_a_slice_a_turn() -> None:
    p, container = _sender_peer(1200)
    link = _Sender(credit=65536)
    p.on_sendable(_Event(link))
    assert link.sent == list(range(1, peer.SEND_SLICE + 1))
    assert len(container.timers) == 1  # the rest comes after the reactor's I/O
    p.on_sendable(_Event(link))  # another flow before the slice fires: no second timer
    assert len(container.timers) == 1
    while container.timers:
        container.fire()
    assert link.sent == list(range(1, 1201))  # each id once, in order
    assert p.transfers == len(link.sent)


def test_a_slice_due_on_a_lost_connection_sends_nothing() -> None:
    p, container = _sender_peer(1200)
    p.opts.reconnect = False  # no reconnect timer in the way
    link = _Sender(credit=65536)
    p.on_sendable(_Event(link))
    assert len(container.timers) == 1
    p.after_disconnect(None)
    container.fire()
    assert len(link.sent) == peer.SEND_SLICE  # nothing went into the dead link
    assert p.next_id == 1  # the tutorial's resend from the first unconfirmed id stands


def test_credit_below_a_slice_is_spent_at_once() -> None:
    p, container = _sender_peer(100)
    link = _Sender(credit=100)
    p.on_sendable(_Event(link))
    assert link.sent == list(range(1, 101))
    assert container.timers == []
