"""The embedded broker's lazy events say what proton's own events say, engine by engine.

Two proton engines talk through memory (no sockets): the same exchange runs
once with proton's collector and once with the lazy one, and every event's
type, delivery, link, session, connection and transport must agree.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from proton import Collector, Connection, Delivery, Link, Transport
from proton.reactor import Container

from harness import resources

PEER_DIR = resources.peer_file("python", "broker.py").parent


def _module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "amqp_interop_lazy_events", PEER_DIR / "lazy_events.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lazy = _module()


def _pump(a: Transport, b: Transport) -> None:
    for _ in range(50):
        moved = False
        for src, dst in ((a, b), (b, a)):
            n = src.pending()
            if n > 0:
                dst.push(src.peek(n))
                src.pop(n)
                moved = True
        if not moved:
            return


def _name(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, Delivery):
        return ("delivery", x.tag)
    if isinstance(x, Link):
        return ("link", x.name)
    if isinstance(x, Connection):
        return ("connection", x.remote_container)
    return type(x).__name__


def _exchange(make_lazy: bool, handler: object) -> list[tuple[Any, ...]]:
    """Client opens a link and sends one message; what the server's collector saw, event by event."""
    client, server = Connection(), Connection()
    client.container = "client"
    ct, st = Transport(), Transport(Transport.SERVER)
    ct.bind(client)
    st.bind(server)
    collector = Collector()
    if make_lazy:
        collector.__class__ = lazy.LazyCollector
        collector.engine_handler = handler
    server.collect(collector)
    client.open()
    ssn = client.session()
    ssn.open()
    snd = ssn.sender("out")
    snd.open()
    seen: list[tuple[Any, ...]] = []
    for step in range(4):
        _pump(ct, st)
        while (ev := collector.peek()) is not None:
            seen.append(
                (
                    ev.type.method,
                    _name(ev.delivery),
                    _name(ev.link),
                    ev.session is not None,
                    _name(ev.connection),
                    ev.transport is not None,
                    ev.handler is handler if make_lazy else ev.handler is None,
                )
            )
            if ev.type.method == "on_link_remote_open":
                ev.link.open()
                ev.link.flow(1)
            elif ev.type.method in ("on_connection_remote_open", "on_session_remote_open"):
                ev.context.open()
            elif ev.type.method == "on_delivery":
                ev.link.recv(ev.delivery.pending)
                ev.delivery.update(Delivery.ACCEPTED)
                ev.delivery.settle()
            collector.pop()
        if step == 1:
            dlv = snd.delivery(b"t1")
            snd.send(b"\x00\x53\x77\xa1\x02hi")
            snd.advance()
            assert dlv is not None
    return seen


def test_lazy_events_agree_with_protons_own() -> None:
    handler = object()
    own, lazy_seen = _exchange(False, handler), _exchange(True, handler)
    assert [e[0] for e in own] == [e[0] for e in lazy_seen]
    assert "on_delivery" in [e[0] for e in own] and "on_link_remote_open" in [e[0] for e in own]
    assert own == lazy_seen


def test_install_on_this_proton_and_what_it_changes() -> None:
    container = Container()
    handler = object()
    assert lazy.install(container, handler) is True
    assert type(container._collector) is lazy.LazyCollector
    assert container._collector.engine_handler is handler
    assert container._collector.plain_handlers == (handler,), (
        "the Container's own global handler has on_unhandled"
    )
    assert lazy.install(container, handler) is False, "only a plain collector is swapped"


def test_dispatch_calls_a_plain_handler_by_its_method_only() -> None:
    class Plain:
        def __init__(self) -> None:
            self.got: list[str] = []

        def on_delivery(self, event: Any) -> None:
            self.got.append(event.type.method)

    class Unhandled(Plain):
        def on_unhandled(self, method: str, event: Any) -> None:
            self.got.append("unhandled " + method)

    plain, unhandled = Plain(), Unhandled()
    collector = Collector()
    collector.__class__ = lazy.LazyCollector
    collector.engine_handler = plain
    collector.plain_handlers = (plain,)
    client = Connection()
    client.collect(collector)
    client.open()
    ev = collector.peek()
    assert ev is not None and ev.type.method == "on_connection_init"
    ev.dispatch(plain)  # no such method: nothing
    ev.dispatch(unhandled)  # proton's own way: the fallback is called
    assert plain.got == [] and unhandled.got == ["unhandled on_connection_init"]


def test_the_broker_installs_them(tmp_path: Any) -> None:
    """The broker says so on stderr when it has to run on proton's own events."""
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, str(PEER_DIR / "broker.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and '"ready"' in proc.stdout.readline()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "cannot be made lazy" not in err
