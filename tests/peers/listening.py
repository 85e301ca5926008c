"""Listen-mode tests shared by the peers that listen on an engine of their own (java, rust).

A test module defines a ``peer`` fixture (the argv prefix) and imports these with
``from tests.peers.listening import ...``; pytest then runs each against that module's
peer, with the Python reference peer as the connecting party, on 127.0.0.1.
"""

from __future__ import annotations

import pytest
from proton import Link
from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce, AtMostOnce, Container

from tests.peers.connecting import PY_PEER
from tests.peers.proc import Proc
from tests.peers.test_cpp_peer import check_output, events, run

__all__ = [
    "listen",
    "settle_mode_answer",
    "test_hello_listens_and_connects_to_itself",
    "test_listens_for_the_python_peer",
    "test_send_listener_answers_a_drain",
    "test_send_listener_answers_the_settle_mode_asked",
]


def listen(procs: list[Proc], argv: list[str]) -> tuple[Proc, str]:
    """Start a listening peer on port 0; the process and the URL its ready line names."""
    p = Proc(argv)
    procs.append(p)
    url = p.wait_line("ready")["url"]
    assert not url.endswith(":0")
    return p, url


@pytest.mark.parametrize("mine", ["receive", "send"])
def test_listens_for_the_python_peer(peer: list[str], procs: list[Proc], mine: str) -> None:
    """direct_recv / direct_send: this peer listens, the Python peer connects."""
    other = {"receive": "send", "send": "receive"}[mine]
    listener, url = listen(
        procs, peer + [mine, "--listen", "--url", "amqp://127.0.0.1:0", "--count", "20"]
    )
    o_code, o_lines, o_err = run(PY_PEER + [other, "--url", url, "--count", "20"])
    l_code, l_lines, l_err = listener.finish(timeout=15)
    assert (o_code, l_code) == (0, 0), (o_lines[-1:], l_lines[-1:], o_err, l_err)
    results = {mine: check_output(l_lines, mine), other: check_output(o_lines, other)}
    assert results["receive"]["missing"] == [] and results["send"]["confirmed"] == 20
    assert events(l_lines, "connection_opened") and events(l_lines, "link_opened")


def test_hello_listens_and_connects_to_itself(peer: list[str]) -> None:
    """helloworld_direct: the client half sends to the listening half of the same process."""
    code, lines, err = run(peer + ["hello", "--listen", "--url", "amqp://127.0.0.1:0"])
    assert code == 0, (lines[-1:], err)
    assert check_output(lines, "hello")["received"] == ["Hello World!"]


class _Drainer(MessagingHandler):
    """Asks for more than the listener has, in drain mode, and waits for the credit to go to 0."""

    def __init__(self, url: str, credit: int, within: float) -> None:
        super().__init__(prefetch=0)
        self.url, self.credit, self.within = url, credit, within
        self.received = 0
        self.drained = False

    def on_start(self, event) -> None:
        conn = event.container.connect(self.url, reconnect=False, allowed_mechs="ANONYMOUS")
        event.container.create_receiver(conn, "drain-test").drain(self.credit)
        self.conn = conn
        event.container.schedule(self.within, self)  # the bound: on_timer_task gives up

    def on_message(self, event) -> None:
        self.received += 1

    def on_link_flow(self, event) -> None:
        if event.link.is_receiver and event.link.credit == 0 and not event.link.draining():
            self.drained = True
            self.conn.close()

    def on_timer_task(self, event) -> None:
        if not self.drained:
            self.conn.close()


def test_send_listener_answers_a_drain(peer: list[str], procs: list[Proc]) -> None:
    """2.6.7: a receiver that drains (Qpid JMS, when a receive waits) is told the credit is used up.

    The listener has 5 messages; the receiver grants 20 with drain set. The listener sends its
    5 and must then answer with a flow that consumes the other 15 (credit 0); one that never
    does leaves a JMS receive waiting until its timeout.
    """
    listener, url = listen(
        procs, peer + ["send", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "5"]
    )
    drainer = _Drainer(url, credit=20, within=10.0)
    Container(drainer).run()
    assert drainer.received == 5
    assert drainer.drained, "no flow with the credit used up within 10 s of the drain"
    listener.finish(timeout=15)  # after the asserts: a listener that failed is killed at teardown


class _SettleAsker(MessagingHandler):
    """Attaches a receiver asking for a snd-settle-mode; notes the answer and the first delivery."""

    def __init__(self, url: str, asked: int, within: float) -> None:
        super().__init__(auto_accept=False)
        self.url, self.asked, self.within = url, asked, within
        self.answered: int | None = None
        self.presettled: bool | None = None

    def on_start(self, event) -> None:
        conn = event.container.connect(self.url, reconnect=False, allowed_mechs="ANONYMOUS")
        mode = AtLeastOnce() if self.asked == Link.SND_UNSETTLED else AtMostOnce()
        event.container.create_receiver(conn, "examples", options=mode)
        self.conn = conn
        self.timer = event.container.schedule(self.within, self)  # the bound

    def on_link_opened(self, event) -> None:
        self.answered = event.link.remote_snd_settle_mode

    def on_message(self, event) -> None:
        if self.presettled is None:
            self.presettled = event.delivery.settled
            self.accept(event.delivery)
            self.timer.cancel()
            self.conn.close()

    def on_timer_task(self, event) -> None:
        self.conn.close()


def settle_mode_answer(
    url: str, asked: int, within: float = 10.0
) -> tuple[int | None, bool | None]:
    """The snd-settle-mode a listening sender answers a receiver asking ``asked`` with, and
    whether the first message came pre-settled (None: no answer, no message within the bound)."""
    asker = _SettleAsker(url, asked, within)
    Container(asker).run()
    return asker.answered, asker.presettled


@pytest.mark.parametrize(
    ("asked", "answered"),
    [(Link.SND_UNSETTLED, Link.SND_UNSETTLED), (Link.SND_SETTLED, Link.SND_MIXED)],
    ids=["unsettled", "settled"],
)
def test_send_listener_answers_the_settle_mode_asked(
    peer: list[str], procs: list[Proc], asked: int, answered: int
) -> None:
    """2.7.3: a receiver that initiates the attach sets the snd-settle-mode it desires at the
    sender, which SHOULD respect it; go-amqp refuses any other answer to unsettled. A receiver
    asking settled gets mixed (the send role counts outcomes, so it does not pre-settle)."""
    listener, url = listen(
        procs, peer + ["send", "--listen", "--url", "amqp://127.0.0.1:0", "--count", "1"]
    )
    assert settle_mode_answer(url, asked) == (answered, False)
    code, lines, err = listener.finish(timeout=15)
    assert code == 0, (lines[-1:], err)
