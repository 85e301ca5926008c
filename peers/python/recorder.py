#!/usr/bin/env python3
"""Run a user's own ``MessagingHandler`` through the contract: an event recorder around it.

Someone who maintains a handler wants to see it run through the harness's scenarios as a
regression check, without rewriting it as a reference peer. This wraps it:

    python peers/python/recorder.py MODULE:CLASS ROLE [contract options]

``MODULE`` is a dotted module name or a path to a ``.py`` file. The class is constructed
with one argument, an ``options`` object carrying the contract options (``url``,
``address``, ``count``, ``listen``, ``reconnect``, ``timeout``, ``user``, ``password``,
``quiet``, ``requests``, ``role``). The handler does its own work (connect, create links,
close when done), exactly as it would on its own.

How it records: every MessagingHandler callback on the instance is shadowed by an
instance attribute that first reports the callback as a contract event line, then calls
the user's method. proton dispatches with ``getattr``, so the user's class is untouched
and its own overrides still run. ``Sender.send`` is wrapped too (there is no callback for
a send) to print ``sent`` and to know which message id each outcome belongs to.
The result line is computed from what was observed; exit codes are the contract's.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from proton import Delivery, Endpoint, Sender
from proton.reactor import Container


def _load_contract() -> ModuleType:
    """peer.py, by path, so this works both as a script and imported from elsewhere."""
    name = "amqp_interop_python_peer"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("peer.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


contract = _load_contract()

__all__ = ["Recorder", "run_handler", "load_class", "main"]

# MessagingHandler callbacks reported as contract events (the rest pass through silently)
RECORDED = (
    "on_start",
    "on_connection_opened",
    "on_link_opened",
    "on_sendable",
    "on_message",
    "on_accepted",
    "on_rejected",
    "on_released",
    "on_settled",
    "on_disconnected",
    "on_transport_error",
    "on_connection_error",
    "on_session_error",
    "on_link_error",
    "on_connection_closing",
    "on_connection_closed",
)


class Recorder:
    """Observes one handler's callbacks: prints events, keeps the counts for the result."""

    def __init__(self, options: argparse.Namespace, out: Any, label: str) -> None:
        self.options = options
        self.role: str = options.role
        self.out = out
        self.quiet = options.quiet
        self.label = label
        self.container: Container | None = None
        self.handler: Any = None
        self.exit_code: int | None = None
        self.error: str | None = None
        self.opens = 0
        self.messages = 0
        self.bodies: list[Any] = []
        self.seen: set[Any] = set()
        self.duplicates = 0
        self.transfers = 0
        self.resent = 0
        self.sent_ids: set[Any] = set()
        self.accepted = 0
        self.confirmed: set[Any] = set()
        self.reply_to: str | None = None
        self.ready_sent = False
        self.credit = contract._CreditTracker()
        self._disconnected: list[Any] = []
        self.connections: list[Any] = []
        self._timeout_task: Any = None

    # ---- wiring

    def instrument(self, handler: Any) -> None:
        """Shadow each recorded callback on the instance with record-then-delegate."""
        self.handler = handler
        for name in RECORDED:
            original = getattr(handler, name, None)
            setattr(handler, name, self._wrap(name, original))
        original_closed = getattr(handler, "on_transport_closed", None)

        def on_transport_closed(event: Any) -> None:
            if original_closed is not None:
                original_closed(event)
            self.transport_closed(event)

        handler.on_transport_closed = on_transport_closed

    def transport_closed(self, event: Any) -> None:
        """Once every connection the handler opened is closed by it, the run is over.

        (The reactor would otherwise wait for the timeout timer.) A connection closed only
        by the network is left alone: proton may be reconnecting it.
        """
        if self.connections and all(c.state & Endpoint.LOCAL_CLOSED for c in self.connections):
            if self.container is not None:
                self.container.stop()

    def _wrap(self, name: str, original: Callable[[Any], None] | None) -> Callable[[Any], None]:
        record = getattr(self, "record_" + name[3:])

        def callback(event: Any) -> None:
            record(event)
            if original is not None:
                original(event)

        return callback

    def note_send(self, sender: Any, delivery: Any, message: Any) -> None:
        """Called from the wrapped ``Sender.send``."""
        ident = getattr(message, "id", None)
        if delivery is not None:
            delivery.ia_id = ident
        self.transfers += 1
        if ident is not None:
            if ident in self.sent_ids:
                self.resent += 1
            self.sent_ids.add(ident)
        if not self.quiet:
            self.out.event("sent", id=ident, body=getattr(message, "body", None))
        self.credit.spent(sender.credit)

    # ---- recorded callbacks

    def record_start(self, event: Any) -> None:
        self.container = event.container
        if self.options.timeout > 0:  # 0: no deadline
            self._timeout_task = self.container.schedule(
                self.options.timeout, contract._Timer(self.on_timeout)
            )

    def after_start(self) -> None:
        if self.options.listen:
            acceptor = getattr(self.handler, "acceptor", None)
            url = self.options.url
            if acceptor is not None:
                port = acceptor._selectable._delegate.getsockname()[1]
                url = f"amqp://{self.options.host}:{port}"
            self.ready(url)

    def ready(self, url: str) -> None:
        if not self.ready_sent:
            self.ready_sent = True
            self.out.line({"kind": "ready", "url": url})

    def record_connection_opened(self, event: Any) -> None:
        self.opens += 1
        if event.connection not in self.connections:
            self.connections.append(event.connection)
        self.out.event("connection_opened", container=event.connection.remote_container)

    def record_link_opened(self, event: Any) -> None:
        link = event.link
        if link.is_sender:
            address = link.remote_target.address or link.target.address
        else:
            address = link.remote_source.address or link.remote_target.address
            if link.remote_source.dynamic or link.source.dynamic:
                self.reply_to = address
        self.out.event(
            "link_opened",
            link=link.name,
            role="sender" if link.is_sender else "receiver",
            address=address,
        )
        if link.is_receiver and not self.options.listen and self.role in ("receive", "serve"):
            self.ready(self.options.url)

    def record_sendable(self, event: Any) -> None:
        if not self.quiet and self.credit.granted(event.sender.credit):
            self.out.event("sendable", link=event.sender.name, credit=event.sender.credit)

    def record_message(self, event: Any) -> None:
        msg = event.message
        self.messages += 1
        self.bodies.append(msg.body)
        ident = msg.id
        duplicate = ident is not None and ident in self.seen
        if duplicate:
            self.duplicates += 1
        elif ident is not None:
            self.seen.add(ident)
        if not self.quiet:
            fields: dict[str, Any] = {"id": ident, "body": msg.body, "duplicate": duplicate}
            for key, value in (
                ("reply_to", msg.reply_to),
                ("correlation_id", msg.correlation_id),
                ("to", msg.address),
            ):
                if value is not None:
                    fields[key] = value
            self.out.event("message", **fields)

    def _outcome(self, event: Any) -> None:
        dlv = event.delivery
        ident = getattr(dlv, "ia_id", None)
        name = {
            Delivery.ACCEPTED: "accepted",
            Delivery.REJECTED: "rejected",
            Delivery.RELEASED: "released",
            Delivery.MODIFIED: "modified",
        }.get(dlv.remote_state)
        if name == "accepted":
            self.accepted += 1
            if ident is not None:
                self.confirmed.add(ident)
        if name is not None and not self.quiet:
            self.out.event(name, id=ident)

    record_accepted = _outcome
    record_rejected = _outcome
    record_released = _outcome

    def record_settled(self, event: Any) -> None:
        if not self.quiet and event.link.is_sender:
            self.out.event("settled", id=getattr(event.delivery, "ia_id", None))

    def record_disconnected(self, event: Any) -> None:
        if event.transport in self._disconnected:
            return
        self._disconnected.append(event.transport)
        condition = event.transport.condition if event.transport is not None else None
        reason = f"{condition.name}: {condition.description}" if condition else "connection lost"
        self.out.event("disconnected", reason=reason)

    def record_transport_error(self, event: Any) -> None:
        self.out.event("transport_error", **contract._cond(event.transport.condition))

    def record_connection_error(self, event: Any) -> None:
        condition = event.connection.remote_condition
        self.out.event("connection_error", **contract._cond(condition))
        self.error = self.error or f"connection error: {condition.name}: {condition.description}"

    def record_session_error(self, event: Any) -> None:
        condition = event.session.remote_condition
        self.out.event("connection_error", endpoint="session", **contract._cond(condition))
        self.error = self.error or f"session error: {condition.name}: {condition.description}"

    def record_link_error(self, event: Any) -> None:
        condition = event.link.remote_condition
        self.out.event("link_error", link=event.link.name, **contract._cond(condition))
        self.error = self.error or f"link error: {condition.name}: {condition.description}"

    def record_connection_closing(self, event: Any) -> None:
        self.out.event("connection_closed")

    def record_connection_closed(self, event: Any) -> None:
        self.out.event("connection_closed")

    # ---- outcome

    def done(self) -> bool:
        count = self.options.count
        if self.role == "receive":
            return len(self.seen) >= count if count else True
        if self.role == "send":
            return len(self.confirmed) >= count
        if self.role == "hello":
            return bool(self.bodies)
        if self.role == "serve":
            return self.messages >= count if count else True
        if self.role == "request":
            return self.transfers > 0 and self.messages >= self.transfers
        return False

    def result(self) -> dict[str, Any]:
        ok = self.error is None and self.done()
        fields: dict[str, Any] = {"role": self.role, "ok": ok}
        if not ok:
            fields["error"] = self.error or "the handler stopped before the role was done"
        fields["handler"] = self.label
        reconnects = max(0, self.opens - 1)
        count = self.options.count
        if self.role == "receive":
            fields.update(count=count, received=len(self.seen), duplicates=self.duplicates)
            if count:
                fields["missing"] = [
                    i for i in range(1, count + 1) if i not in self.seen and str(i) not in self.seen
                ]
            fields.update(reconnects=reconnects, messages=self.messages)
        elif self.role == "send":
            fields.update(
                count=count,
                sent=self.transfers,
                confirmed=len(self.confirmed),
                resent=self.resent,
                reconnects=reconnects,
            )
        elif self.role == "hello":
            fields["received"] = self.bodies
        elif self.role == "serve":
            fields["served"] = self.messages
        elif self.role == "request":
            fields.update(requests=self.transfers, replies=self.messages, reply_to=self.reply_to)
        fields["options"] = contract.effective_options(self.options)
        return fields

    def finish(self, code: int | None = None) -> int:
        if self.exit_code is None:
            if code is None:
                code = contract.EXIT_OK if self.result()["ok"] else contract.EXIT_FAILED
            self.exit_code = code
            self.out.result(self.result())
        return self.exit_code

    def on_timeout(self) -> None:
        if self.exit_code is not None:
            return
        waiting = self.waiting_for()
        self.out.line({"kind": "timeout", "waiting_for": waiting})
        self.error = (
            self.error or f"timed out after {self.options.timeout:g} s waiting for {waiting}"
        )
        self.finish(contract.EXIT_TIMEOUT)
        if self.container is not None:
            self.container.stop()

    def waiting_for(self) -> str:
        count = self.options.count
        if self.opens == 0:
            return f"connection to {self.options.url}"
        if self.role == "receive" and count:
            return f"message {len(self.seen) + 1} of {count} on {self.options.address}"
        if self.role == "send":
            return f"confirmation of message {len(self.confirmed) + 1} of {count}"
        if self.role == "request":
            return f"reply {self.messages + 1} of {self.transfers}"
        return f"the handler to finish the {self.role} role"

    def on_signal(self, signum: int) -> None:
        if not self.done() and self.error is None:
            self.error = f"interrupted by signal {signal.Signals(signum).name} before done"
        code = contract.EXIT_OK if self.result()["ok"] else contract.EXIT_FAILED
        self.finish(code)
        os._exit(code)


def run_handler(
    handler_factory: Callable[[argparse.Namespace], Any],
    role: str,
    argv: list[str],
    label: str | None = None,
) -> int:
    """Run ``handler_factory(options)`` as ``role`` with the contract options in ``argv``.

    Prints the contract's JSON Lines on stdout and returns the contract exit code
    (2 for bad options, after one ``error:`` line on stderr).
    """
    try:
        options = contract.parse_options([role, *argv])
    except contract.UsageError as exc:
        sys.stderr.write(f"error: {exc} (usage: recorder.py MODULE:CLASS ROLE [options])\n")
        return contract.EXIT_USAGE
    out = contract.Output(quiet=options.quiet)
    label = label or getattr(handler_factory, "__qualname__", repr(handler_factory))
    recorder = Recorder(options, out, label)
    handler = handler_factory(options)
    recorder.instrument(handler)
    start = handler.on_start

    def on_start(event: Any) -> None:
        start(event)
        recorder.after_start()

    handler.on_start = on_start

    original_send = Sender.send

    def send(sender: Sender, obj: Any, tag: str | None = None) -> Any:
        delivery = original_send(sender, obj, tag)
        recorder.note_send(sender, delivery if isinstance(delivery, Delivery) else None, obj)
        return delivery

    def on_signal(signum: int, frame: Any) -> None:
        recorder.on_signal(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    Sender.send = send  # type: ignore[method-assign]
    try:
        container = Container(handler)
        container.container_id = f"amqp-interop-recorder-{role}-{os.getpid()}"
        container.run()
    except Exception as exc:  # the user's handler raised: report it, exit 1
        sys.stderr.write(f"error: the handler raised {type(exc).__name__}: {exc}\n")
        recorder.error = recorder.error or f"handler raised {type(exc).__name__}: {exc}"
        return recorder.finish(contract.EXIT_FAILED)
    finally:
        Sender.send = original_send  # type: ignore[method-assign]
        for signum, old in previous.items():
            signal.signal(signum, old)
    return recorder.finish()


def load_class(spec: str) -> Callable[[argparse.Namespace], Any]:
    """``package.module:Class`` or ``path/to/file.py:Class``."""
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise contract.UsageError(f"expected MODULE:CLASS, got {spec!r}")
    if module_name.endswith(".py") or os.sep in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise contract.UsageError(f"no such file {module_name!r}")
        mod_spec = importlib.util.spec_from_file_location(path.stem, path)
        assert mod_spec is not None and mod_spec.loader is not None
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[path.stem] = module
        mod_spec.loader.exec_module(module)
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise contract.UsageError(f"cannot import {module_name!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise contract.UsageError(f"{module_name!r} has no {class_name!r}")
    return cls


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0].startswith("-"):
        sys.stderr.write("usage: recorder.py MODULE:CLASS ROLE [contract options]\n")
        return contract.EXIT_USAGE
    try:
        factory = load_class(args[0])
    except contract.UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return contract.EXIT_USAGE
    return run_handler(factory, args[1], args[2:], label=args[0])


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
