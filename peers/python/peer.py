#!/usr/bin/env python3
"""The Python reference peer: every role of peers/CONTRACT.md on Qpid Proton's reactor.

One program, one role per run (``hello``, ``send``, ``receive``, ``serve``, ``request``).
It is deliberately written the way the Qpid Proton Python tutorial writes its examples
(``MessagingHandler`` subclasses driven by a ``Container``), because the point of a
reference peer is to behave like the tutorial a user would copy.

Everything the harness needs comes out of stdout as JSON Lines (see ``Output``); the
library's own logging goes to stderr. Exit codes: 0 done, 1 outcome failed, 2 usage, 3 timeout.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn
from urllib.parse import SplitResult, unquote, urlsplit

from proton import (
    Condition,
    Data,
    Delivery,
    Endpoint,
    Link,
    Message,
    Terminus,
    symbol,
)
from proton.handlers import MessagingHandler, Release
from proton.reactor import AtLeastOnce, Container, LinkOption

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # loaded by path (tests), not run as a script
    sys.path.append(_HERE)
from plain_amqp import make_container  # noqa: E402

ROLES = ("hello", "send", "receive", "serve", "request")
# The option defaults of peers/CONTRACT.md (table "Defaults", data in peers/defaults.json).
DEFAULT_URL = "amqp://127.0.0.1:5672"
DEFAULT_ADDRESS = "examples"
DEFAULT_COUNT = {"send": 100, "receive": 100, "serve": 0}  # hello, request: --count is not used
DEFAULT_TIMEOUT = 30.0  # 0 (no deadline) for receive and serve with --count 0
DEFAULT_REQUESTS = (
    "Twas brillig, and the slithy toves",
    "Did gire and gymble in the wabe.",
    "All mimsy were the borogroves,",
    "And the mome raths outgrabe.",
)
ANONYMOUS_RELAY = symbol("ANONYMOUS-RELAY")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3
#: messages a sender encodes in one reactor turn before it lets I/O happen (Send._send_some)
SEND_SLICE = 500


# --------------------------------------------------------------------------- output


def jsonable(value: Any) -> Any:
    """Map an AMQP value to JSON the way the contract says (binary as hex, uuid as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


class Output:
    """JSON Lines on fd 1, one unbuffered write per line.

    ``os.write`` instead of ``sys.stdout`` so that a line is never half in a buffer when
    a signal handler writes the result line and calls ``os._exit``.
    """

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.result_written = False

    def line(self, obj: dict[str, Any]) -> None:
        if self.result_written:
            return  # the result is the last line, whatever the reactor still reports
        data = (json.dumps(obj, default=jsonable, separators=(", ", ": ")) + "\n").encode()
        while data:
            written = os.write(1, data)
            data = data[written:]

    def event(self, name: str, **fields: Any) -> None:
        self.line({"kind": "event", "name": name, **fields})

    def result(self, fields: dict[str, Any]) -> None:
        if self.result_written:
            return
        self.line({"kind": "result", **fields})
        self.result_written = True


# --------------------------------------------------------------------------- options


class UsageError(Exception):
    """Raised instead of argparse's exit so that the message is one line and the code is 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        if "required: role" in message:  # argparse also names the optional request list
            message = f"missing ROLE (one of {', '.join(ROLES)})"
        raise UsageError(message)


def build_parser(prog: str = "peer.py") -> argparse.ArgumentParser:
    """The contract's options; shared with recorder.py, which accepts the same ones."""
    p = _Parser(prog=prog, description="AMQP 1.0 reference peer (Qpid Proton Python)")
    p.add_argument("role", help="one of " + ", ".join(ROLES))
    p.add_argument("requests", nargs="*", help="request role: the request bodies")
    p.add_argument("--url", default=DEFAULT_URL)
    p.add_argument("--address", default=None)  # None: the URL's path, else DEFAULT_ADDRESS
    p.add_argument("--count", type=int, default=None)  # None: DEFAULT_COUNT of the role
    p.add_argument("--listen", action="store_true")
    p.add_argument("--reconnect", dest="reconnect", action="store_true", default=True)
    p.add_argument("--no-reconnect", dest="reconnect", action="store_false")
    p.add_argument("--timeout", type=float, default=None)  # None: see DEFAULT_TIMEOUT
    p.add_argument("--user", default=None)
    p.add_argument("--password", default=None)
    p.add_argument("--quiet", action="store_true")
    # request role: a capability (symbol) on the dynamic reply source; a broker may
    # answer a dynamic source only with its own capability (RabbitMQ 4.2+)
    p.add_argument("--dynamic-capability", dest="dynamic_capabilities", action="append", default=[])
    return p


def _split_url(url: str) -> SplitResult:
    """Validate an ``amqp://[user:password@]host[:port][/address]`` URL."""
    try:
        parts = urlsplit(url if "://" in url else "amqp://" + url)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise UsageError(f"bad URL {url!r}: {exc}") from None
    if parts.scheme not in ("amqp", "amqps"):
        raise UsageError(f"bad URL {url!r}: scheme must be amqp")
    if not parts.hostname:
        raise UsageError(f"bad URL {url!r}: no host")
    if parts.query or parts.fragment:
        raise UsageError(f"bad URL {url!r}: unexpected query")
    return parts


def check_url(url: str) -> tuple[str, int]:
    """Validate an ``amqp://[user:password@]host[:port][/address]`` URL; return (host, port)."""
    parts = _split_url(url)
    return parts.hostname or "", 5672 if parts.port is None else parts.port


def url_address(url: str) -> str | None:
    """The address in the URL's path (the tutorial's ``localhost:5672/examples``), if any."""
    path = unquote(_split_url(url).path.lstrip("/"))
    return path or None


def effective_options(opts: argparse.Namespace) -> dict[str, Any]:
    """The result's ``options``: the values this run uses, after the contract's defaults.

    ``url`` is ``scheme://host:port`` (no credentials); ``count`` is null for the roles
    that do not use it; ``password`` is masked; ``requests`` only for the request role.
    """
    parts = _split_url(opts.url)
    host = f"[{opts.host}]" if ":" in opts.host else opts.host
    user = opts.user if opts.user is not None else (unquote(parts.username or "") or None)
    password = opts.password if opts.password is not None else parts.password
    return {
        "url": f"{parts.scheme}://{host}:{opts.port}",
        "address": opts.address,
        "count": opts.count if opts.role in DEFAULT_COUNT else None,
        "listen": opts.listen,
        "reconnect": opts.reconnect,
        "timeout": int(opts.timeout) if opts.timeout == int(opts.timeout) else opts.timeout,
        "user": user,
        "password": None if password is None else "***",
        "quiet": opts.quiet,
        "requests": list(opts.requests) if opts.role == "request" else None,
        "dynamic_capabilities": list(opts.dynamic_capabilities),
    }


def parse_options(argv: list[str], roles: tuple[str, ...] = ROLES) -> argparse.Namespace:
    """Parse and validate; raises UsageError with a one-line message."""
    opts = build_parser().parse_intermixed_args(argv)
    if opts.role not in roles:
        raise UsageError(f"unknown role {opts.role!r} (expected one of {', '.join(roles)})")
    if opts.requests and opts.role != "request":
        raise UsageError(f"unexpected arguments {' '.join(opts.requests)!r}")
    if opts.count is None:
        opts.count = DEFAULT_COUNT.get(opts.role)
    elif opts.count < 0:
        raise UsageError("--count must be >= 0")
    if opts.timeout is None:
        until_killed = opts.role in ("receive", "serve") and opts.count == 0
        opts.timeout = 0.0 if until_killed else DEFAULT_TIMEOUT
    elif opts.timeout < 0:
        raise UsageError("--timeout must be >= 0 (0: no deadline)")
    if opts.listen and opts.role == "request":
        raise UsageError("--listen is not supported for the request role")
    if (opts.user is None) != (opts.password is None):
        raise UsageError("--user and --password go together")
    opts.host, opts.port = check_url(opts.url)
    if opts.address is None:
        opts.address = url_address(opts.url) or DEFAULT_ADDRESS
    if not opts.requests:
        opts.requests = list(DEFAULT_REQUESTS)
    return opts


def usage_exit(message: str) -> NoReturn:
    """One line on stderr, nothing on stdout, exit 2."""
    sys.stderr.write(f"error: {message} (usage: peer.py ROLE [--url URL] [--address ADDR] ...)\n")
    sys.stderr.flush()
    os._exit(EXIT_USAGE)


class _Backoff:
    """Reconnect delays 0, 0.1, 0.2, ... capped at 1 s, restarting after every success.

    proton's ``Backoff`` hands out one shared iterator, so after a reconnect the delays
    would keep growing; iterating this object starts a fresh sequence each time.
    """

    def __iter__(self) -> Iterator[float]:
        yield 0.0
        delay = 0.1
        while True:
            yield delay
            delay = min(1.0, delay * 2)


# --------------------------------------------------------------------------- base peer


class _Timer:
    """A reactor timer calling back into the peer (``container.schedule`` needs a handler)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback

    def on_timer_task(self, event: Any) -> None:
        self.callback()


def _cond(condition: Condition | None) -> dict[str, Any]:
    if condition is None:
        return {"condition": None, "description": None}
    return {"condition": condition.name, "description": condition.description}


class Peer(MessagingHandler):
    """What every role shares: connect/listen, timeout, errors, the result line.

    Subclasses implement ``start(container)`` hooks and ``result_fields()``; they call
    ``complete()`` when the role's work is done and ``fail(text)`` when it cannot be.
    """

    role = ""
    prefetch = 10

    def __init__(self, opts: argparse.Namespace, out: Output) -> None:
        super().__init__(prefetch=self.prefetch)
        self.opts = opts
        self.out = out
        self.quiet = opts.quiet
        self.container: Container | None = None
        self.connection: Any = None
        self.acceptor: Any = None
        self.done = False
        self.error: str | None = None
        self.exit_code: int | None = None
        self.opens = 0
        self.ready_sent = False
        self._disconnected_transports: list[Any] = []
        self._timeout_task: Any = None

    # ---- contract plumbing

    @property
    def url(self) -> str:
        return self.opts.url

    def connect(self, container: Container) -> Any:
        kwargs: dict[str, Any] = {"reconnect": _Backoff() if self.opts.reconnect else False}
        if self.opts.user is not None:
            kwargs.update(
                user=self.opts.user,
                password=self.opts.password,
                allowed_mechs="PLAIN",
                allow_insecure_mechs=True,
            )
        elif "@" in self.opts.url:
            kwargs.update(allowed_mechs="PLAIN", allow_insecure_mechs=True)
        else:
            kwargs.update(allowed_mechs="ANONYMOUS")
        return container.connect(self.opts.url, **kwargs)

    def ready(self, url: str) -> None:
        if not self.ready_sent:
            self.ready_sent = True
            self.out.line({"kind": "ready", "url": url})

    def waiting_for(self) -> str:
        """The concrete thing this peer awaits now; subclasses refine it."""
        if self.opens == 0:
            if self.opts.listen:
                return f"a connection on {self.listen_url()}"
            return f"connection to {self.url}"
        return "the role to complete"

    def listen_url(self) -> str:
        if self.acceptor is None:
            return self.url
        port = self.acceptor._selectable._delegate.getsockname()[1]
        return f"amqp://{self.opts.host}:{port}"

    def result_fields(self) -> dict[str, Any]:
        return {}

    def ok(self) -> bool:
        return self.done and self.error is None

    def result(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"role": self.role, "ok": self.ok()}
        if not fields["ok"]:
            fields["error"] = self.error or "not done"
        fields.update(self.result_fields())
        fields["options"] = effective_options(self.opts)
        return fields

    def finish(self, code: int | None = None) -> None:
        """Write the result line once and stop the reactor; main() exits with exit_code."""
        if self.exit_code is not None:
            return
        if code is None:
            code = EXIT_OK if self.ok() else EXIT_FAILED
        self.exit_code = code
        self.out.result(self.result())
        if self.acceptor is not None:
            self.acceptor.close()
        if self._timeout_task is not None:
            self._timeout_task.cancel()
        if self.container is None:
            return
        transport = self.connection.transport if self.connection is not None else None
        if code != EXIT_TIMEOUT and transport is not None and not transport.closed:
            # let the close frame reach the wire: stop when the transport closes (or in 1 s)
            self.container.schedule(1.0, _Timer(self.container.stop))
        else:
            self.container.stop()

    def on_transport_closed(self, event: Any) -> None:
        if self.exit_code is not None and self.container is not None:
            self.container.stop()

    def fail(self, text: str) -> None:
        """The role cannot succeed: record why, close what is open, then finish with 1."""
        if self.error is None:
            self.error = text
        if self._can_close(self.connection):
            self.connection.close()
            # give the close frame a moment to reach the wire; the close answer finishes us
            self.container.schedule(1.0, _Timer(lambda: self.finish(EXIT_FAILED)))
        else:
            self.finish(EXIT_FAILED)

    def complete(self, connection: Any = None) -> None:
        """The role's work is done: close the connection; finish once the close is answered."""
        self.done = True
        conn = connection or self.connection
        if self._can_close(conn):
            self.close_cleanly(conn)
            # A remote that never answers our close must not keep us alive.
            self.container.schedule(2.0, _Timer(self.finish))
        else:
            self.finish()

    @staticmethod
    def close_cleanly(conn: Any) -> None:
        """Detach our links and end our sessions before the close frame.

        The tutorial just closes the connection, which AMQP allows, but a clean
        shutdown leaves the remote nothing to tidy up; the suite checks it
        (rule detach-before-close), so every reference peer does it.
        """
        link = conn.link_head(Endpoint.LOCAL_ACTIVE)
        while link is not None:
            nxt = link.next(Endpoint.LOCAL_ACTIVE)
            link.close()
            link = nxt
        ssn = conn.session_head(Endpoint.LOCAL_ACTIVE)
        while ssn is not None:
            nxt = ssn.next(Endpoint.LOCAL_ACTIVE)
            ssn.close()
            ssn = nxt
        conn.close()

    @staticmethod
    def _can_close(conn: Any) -> bool:
        """True when closing ``conn`` would put a close frame on a live transport."""
        if conn is None or conn.state & Endpoint.LOCAL_CLOSED:
            return False
        transport = conn.transport
        return transport is not None and not transport.closed

    def on_signal(self, signum: int) -> None:
        """SIGTERM/SIGINT: the result line, then exit at once (from the signal handler)."""
        if self.opts.count == 0 and self.role in ("receive", "serve") and self.error is None:
            self.done = True  # --count 0 means "until killed": being killed is the normal end
        elif not self.done and self.error is None:
            self.error = f"interrupted by signal {signal.Signals(signum).name} before done"
        code = EXIT_OK if self.ok() else EXIT_FAILED
        self.out.result(self.result())
        os._exit(code)

    def on_timeout(self) -> None:
        if self.exit_code is not None:
            return
        self.out.line({"kind": "timeout", "waiting_for": self.waiting_for()})
        if self.error is None:
            self.error = f"timed out after {self.opts.timeout:g} s waiting for {self.waiting_for()}"
        self.finish(EXIT_TIMEOUT)

    # ---- reactor callbacks shared by every role

    def on_start(self, event: Any) -> None:
        self.container = event.container
        if self.opts.timeout > 0:
            self._timeout_task = self.container.schedule(self.opts.timeout, _Timer(self.on_timeout))
        if self.opts.listen:
            self.acceptor = self.container.listen(f"{self.opts.host}:{self.opts.port}")
            self.ready(self.listen_url())
            self.start_listening(event.container)
        else:
            self.connection = self.connect(event.container)
            self.start_connected(event.container, self.connection)

    def start_listening(self, container: Container) -> None:
        """Listen mode hook (the tutorial's direct_* examples)."""

    def start_connected(self, container: Container, connection: Any) -> None:
        """Connect mode hook: create the role's links on ``connection``."""

    def on_connection_opening(self, event: Any) -> None:
        # listen mode: an incoming connection; remember it (one connection at a time)
        self.connection = event.connection
        event.connection.container = self.container.container_id

    def on_connection_opened(self, event: Any) -> None:
        self.opens += 1
        if self.opts.listen:
            self.connection = event.connection
        self.out.event("connection_opened", container=event.connection.remote_container)

    def on_link_opening(self, event: Any) -> None:
        # listen mode: the remote attached first; answer with the terminus it asked for
        link = event.link
        if link.is_sender:
            link.source.address = link.remote_source.address
            if link.remote_snd_settle_mode == Link.SND_UNSETTLED:
                # 2.7.3: a sender SHOULD take the settlement mode the receiver asks for; unsettled
                # is what at-least-once sends anyway (a receiver asking settled keeps mixed: this
                # sender counts outcomes) -- go-amqp refuses any other answer
                link.snd_settle_mode = Link.SND_UNSETTLED
        else:
            link.target.address = link.remote_target.address

    def on_link_opened(self, event: Any) -> None:
        link = event.link
        if link.is_sender:
            address = link.remote_target.address or link.target.address
        else:
            address = link.remote_source.address or link.remote_target.address
        self.out.event(
            "link_opened",
            link=link.name,
            role="sender" if link.is_sender else "receiver",
            address=address,
        )

    def on_disconnected(self, event: Any) -> None:
        # proton reports both tail-closed and closed for one transport; print it once.
        # (Keeping the wrapper keeps the transport alive, so its identity is never reused.)
        if event.transport in self._disconnected_transports:
            return
        self._disconnected_transports.append(event.transport)
        condition = event.transport.condition if event.transport is not None else None
        reason = "connection lost"
        if condition is not None:
            reason = f"{condition.name}: {condition.description}"
        self.out.event("disconnected", reason=reason)
        self.after_disconnect(event)
        if self.done:
            self.finish()
        elif not self.opts.listen and not self.opts.reconnect:
            self.fail(f"disconnected: {reason}")

    def after_disconnect(self, event: Any) -> None:
        """Role hook, e.g. the sender's ``sent = confirmed``."""

    def on_transport_error(self, event: Any) -> None:
        self.out.event("transport_error", **_cond(event.transport.condition))
        condition = event.transport.condition
        if condition is not None and condition.name == "amqp:unauthorized-access":
            self.fail(f"transport error: {condition.name}: {condition.description}")

    def on_connection_error(self, event: Any) -> None:
        condition = event.connection.remote_condition
        self.out.event("connection_error", **_cond(condition))
        self.fail(f"connection error: {condition.name}: {condition.description}")

    def on_session_error(self, event: Any) -> None:
        condition = event.session.remote_condition
        self.out.event("connection_error", endpoint="session", **_cond(condition))
        self.fail(f"session error: {condition.name}: {condition.description}")

    def on_link_error(self, event: Any) -> None:
        condition = event.link.remote_condition
        self.out.event("link_error", link=event.link.name, **_cond(condition))
        self.fail(f"link error on {event.link.name}: {condition.name}: {condition.description}")

    def on_connection_closing(self, event: Any) -> None:
        # the remote closed first, without an error condition
        self.out.event("connection_closed")
        if self.done:
            self.finish()
        elif self.opts.listen:
            pass  # a client left early; keep listening (it may come back) until done or timeout
        else:
            self.error = self.error or "the remote closed the connection before the role was done"
            self.finish()

    def on_connection_closed(self, event: Any) -> None:
        self.out.event("connection_closed")
        if self.done or not self.opts.listen or self.error is not None:
            self.finish()

    def on_link_closing(self, event: Any) -> None:
        # in listen mode a client detaching is its business; connected, it breaks the role
        if not self.done and not self.opts.listen:
            self.out.event("link_error", link=event.link.name, condition=None, description=None)
            self.fail(f"the remote detached link {event.link.name}")

    # ---- shared bits of the sender side

    def outcome_event(self, delivery: Any, ident: Any) -> None:
        """accepted / released / rejected / modified, named after the remote state."""
        if self.quiet:
            return
        state = delivery.remote_state
        name = {
            Delivery.ACCEPTED: "accepted",
            Delivery.REJECTED: "rejected",
            Delivery.RELEASED: "released",
            Delivery.MODIFIED: "modified",
        }.get(state)
        if name is not None:
            self.out.event(name, id=ident)


class _CreditTracker:
    """Prints ``sendable`` once per credit grant instead of once per on_sendable call."""

    def __init__(self) -> None:
        self.last = 0

    def granted(self, credit: int) -> bool:
        grew = credit > self.last
        self.last = credit
        return grew

    def spent(self, credit: int) -> None:
        self.last = credit


# --------------------------------------------------------------------------- roles


class Hello(Peer):
    """helloworld.py (connect) and helloworld_direct.py (--listen: listen and connect to self)."""

    role = "hello"

    def __init__(self, opts: argparse.Namespace, out: Output) -> None:
        super().__init__(opts, out)
        self.received: list[Any] = []
        self.sent = False
        self.receiver: Any = None
        self.sender: Any = None
        self.credit = _CreditTracker()

    def start_connected(self, container: Container, connection: Any) -> None:
        self.receiver = container.create_receiver(connection, self.opts.address)

    def start_listening(self, container: Container) -> None:
        # helloworld_direct: our own acceptor plays the remote; send to it
        self.connection = self.connect_to_self(container)
        self.sender = container.create_sender(self.connection, self.opts.address)

    def connect_to_self(self, container: Container) -> Any:
        return container.connect(self.listen_url(), reconnect=False, allowed_mechs="ANONYMOUS")

    def on_connection_opening(self, event: Any) -> None:
        # the accepted side of helloworld_direct; self.connection stays the client connection
        event.connection.container = self.container.container_id

    def on_link_opened(self, event: Any) -> None:
        super().on_link_opened(event)
        if (
            not self.opts.listen
            and event.link.is_receiver
            and self.receiver is not None
            and event.link == self.receiver
            and self.sender is None
        ):
            self.sender = event.container.create_sender(event.connection, self.opts.address)

    def on_sendable(self, event: Any) -> None:
        if self.sender is None or event.link != self.sender:
            return
        if not self.quiet and self.credit.granted(event.sender.credit):
            self.out.event("sendable", link=event.sender.name, credit=event.sender.credit)
        if not self.sent:
            body = "Hello World!"
            event.sender.send(Message(body=body))
            self.sent = True
            self.credit.spent(event.sender.credit)
            if not self.quiet:
                self.out.event("sent", id=None, body=body)

    def on_message(self, event: Any) -> None:
        body = event.message.body
        self.received.append(body)
        if not self.quiet:
            self.out.event("message", id=event.message.id, body=body)
        if not self.opts.listen:
            self.complete(event.connection)

    def on_accepted(self, event: Any) -> None:
        self.outcome_event(event.delivery, None)
        if self.opts.listen:
            self.complete(self.connection)

    def on_connection_opened(self, event: Any) -> None:
        if self.opts.listen:
            self.opens += 1
            self.out.event("connection_opened", container=event.connection.remote_container)
            return
        super().on_connection_opened(event)

    def waiting_for(self) -> str:
        if self.opens == 0:
            return f"connection to {self.listen_url() if self.opts.listen else self.url}"
        if self.opts.listen:
            if not self.sent:
                return f"credit on sender to {self.opts.address}"
            return "the message to come back"
        if self.sender is None:
            return f"remote attach of link {self.receiver.name if self.receiver else '?'}"
        if not self.sent:
            return f"credit on sender to {self.opts.address}"
        return "the message to come back"

    def result_fields(self) -> dict[str, Any]:
        return {"received": self.received}


class Send(Peer):
    """simple_send.py (connect) and direct_send.py (--listen): at-least-once, ids 1..N."""

    role = "send"

    def __init__(self, opts: argparse.Namespace, out: Output) -> None:
        super().__init__(opts, out)
        self.total = opts.count
        self.next_id = 1  # the next id to transfer; reset to the first unconfirmed on disconnect
        self.max_sent = 0
        self.transfers = 0
        self.resent = 0
        self.confirmed: set[int] = set()
        self.lowest_unconfirmed = 1
        self.retry: set[int] = set()  # released ids to send again before new ones
        self.in_flight: dict[Any, int] = {}  # unsettled delivery -> id
        self.sender: Any = None
        self.credit = _CreditTracker()
        self._delays = iter(_Backoff())
        self._slice_due = False
        self.links_lost = 0  # connections lost so far: a slice scheduled before one is void

    def start_connected(self, container: Container, connection: Any) -> None:
        self.sender = container.create_sender(connection, self.opts.address)
        if self.total == 0:
            self.complete(connection)

    def on_sendable(self, event: Any) -> None:
        sender = event.sender
        self.sender = sender
        if not self.quiet and self.credit.granted(sender.credit):
            self.out.event("sendable", link=sender.name, credit=sender.credit)
        self._send_some(sender)

    def _send_some(self, sender: Any) -> None:
        """The tutorial's ``while sender.credit`` loop, SEND_SLICE messages per reactor turn.

        A broker may grant a lot at once (RabbitMQ 3.10: 65,536 credit in one flow).
        In one callback proton writes nothing and reads no disposition until the loop
        returns, so the peer would encode tens of thousands of messages first, and a cut
        then finds all of them unconfirmed in its count. Between slices the reactor does
        its I/O; the wire still shows a sender that sends while it has credit.
        """
        quiet, out = self.quiet, self.out
        confirmed, retry, in_flight = self.confirmed, self.retry, self.in_flight
        budget = SEND_SLICE
        while sender.credit and (retry or self.next_id <= self.total):
            if not budget:
                if not self._slice_due and self.container is not None:
                    self._slice_due = True
                    again = functools.partial(self._next_slice, sender, self.links_lost)
                    self.container.schedule(0, _Timer(again))
                break
            if retry:
                i = min(retry)
                retry.discard(i)
            else:
                i = self.next_id
                self.next_id += 1
            if i in confirmed:
                continue
            dlv = sender.send(Message(id=i, body={"sequence": i}, durable=True))
            dlv.ia_id = i
            in_flight[dlv] = i
            self.transfers += 1
            budget -= 1
            if i <= self.max_sent:
                self.resent += 1
            else:
                self.max_sent = i
            if not quiet:
                out.event("sent", id=i)
        self.credit.spent(sender.credit)

    def _next_slice(self, sender: Any, links_lost: int) -> None:
        self._slice_due = False
        # a slice due on a connection that has since been lost sends nothing: after the
        # disconnect next_id was reset, and sends on the dead link would count as sent
        if links_lost == self.links_lost and not self.done and sender is self.sender:
            self._send_some(sender)

    def on_accepted(self, event: Any) -> None:
        ident = getattr(event.delivery, "ia_id", None)
        self.outcome_event(event.delivery, ident)
        if ident is None:
            return
        self.confirmed.add(ident)
        while self.lowest_unconfirmed in self.confirmed:
            self.lowest_unconfirmed += 1
        if len(self.confirmed) >= self.total and not self.done:
            self.complete(event.connection)

    def on_rejected(self, event: Any) -> None:
        self.outcome_event(event.delivery, getattr(event.delivery, "ia_id", None))

    def on_released(self, event: Any) -> None:
        # released/modified: not confirmed; send it again on the next credit
        ident = getattr(event.delivery, "ia_id", None)
        self.outcome_event(event.delivery, ident)
        if ident is not None and ident not in self.confirmed:
            self.retry.add(ident)
            if self.sender is not None and self.sender.credit:
                self.on_sendable(event)

    def on_settled(self, event: Any) -> None:
        self.in_flight.pop(event.delivery, None)
        if not self.quiet:
            self.out.event("settled", id=getattr(event.delivery, "ia_id", None))

    def after_disconnect(self, event: Any) -> None:
        # the tutorial's `self.sent = self.confirmed`: resend from the first unconfirmed id
        self.links_lost += 1
        self.next_id = self.lowest_unconfirmed
        self.retry.clear()
        self.credit.spent(0)
        self.in_flight.clear()
        if self.opts.listen or not self.opts.reconnect or self.done or self.container is None:
            return
        # Reconnect on a NEW connection object. proton's own reconnect keeps the old
        # connection and its links, and after the rebind it transmits the deliveries that
        # were in flight once more as transfers without payload (settled or not): one
        # broker counts them as confirmed, another (RabbitMQ 3.10) ends the session with
        # "Unexpected frame". A fresh connection carries nothing stale.
        self.sender = None
        delay = next(self._delays)
        self.container.schedule(delay, _Timer(self._reconnect))

    def _reconnect(self) -> None:
        if self.done or self.exit_code is not None or self.container is None:
            return
        self.connection = self.connect(self.container)
        self.start_connected(self.container, self.connection)

    def connect(self, container: Container) -> Any:
        if self.opts.listen:
            return super().connect(container)
        saved = self.opts.reconnect
        self.opts.reconnect = False  # we reconnect ourselves (see after_disconnect)
        try:
            return super().connect(container)
        finally:
            self.opts.reconnect = saved

    def on_connection_opened(self, event: Any) -> None:
        super().on_connection_opened(event)
        self._delays = iter(_Backoff())  # a success starts the delays over

    def waiting_for(self) -> str:
        if self.opens == 0:
            return super().waiting_for()
        if self.sender is not None and not self.sender.state & Endpoint.REMOTE_ACTIVE:
            return f"remote attach of link {self.sender.name}"
        if self.next_id <= self.total and (self.sender is None or not self.sender.credit):
            return f"credit on sender to {self.opts.address}"
        return (
            f"confirmation of message {self.lowest_unconfirmed} "
            f"({len(self.confirmed)} of {self.total} confirmed)"
        )

    def result_fields(self) -> dict[str, Any]:
        return {
            "count": self.total,
            "sent": self.transfers,
            "confirmed": len(self.confirmed),
            "resent": self.resent,
            "reconnects": max(0, self.opens - 1),
        }


class Receive(Peer):
    """simple_recv.py (connect) and direct_recv.py (--listen): accept all, drop duplicates."""

    role = "receive"
    prefetch = 100

    def __init__(self, opts: argparse.Namespace, out: Output) -> None:
        super().__init__(opts, out)
        self.total = opts.count
        self.seen: set[Any] = set()
        self.duplicates = 0
        self.receiver: Any = None

    def start_connected(self, container: Container, connection: Any) -> None:
        # at-least-once: snd-settle-mode unsettled, so the broker may not deliver pre-settled
        # (a message settled on the way would be lost with the connection)
        self.receiver = container.create_receiver(
            connection, self.opts.address, options=AtLeastOnce()
        )

    def on_link_opened(self, event: Any) -> None:
        super().on_link_opened(event)
        if event.link.is_receiver and not self.opts.listen:
            self.ready(self.url)

    def on_message(self, event: Any) -> None:
        if self.done:
            # beyond --count (prefetched while closing): give it back, do not consume it
            raise Release()
        msg = event.message
        ident = msg.id
        duplicate = ident in self.seen
        if duplicate:
            self.duplicates += 1
        else:
            self.seen.add(ident)
        if not self.quiet:
            fields: dict[str, Any] = {"id": ident, "body": msg.body, "duplicate": duplicate}
            if msg.reply_to is not None:
                fields["reply_to"] = msg.reply_to
            if msg.correlation_id is not None:
                fields["correlation_id"] = msg.correlation_id
            if msg.address is not None:
                fields["to"] = msg.address
            self.out.event("message", **fields)
        if self.total and len(self.seen) >= self.total:
            self.complete(event.connection)

    def waiting_for(self) -> str:
        if self.opens == 0:
            return super().waiting_for()
        if self.receiver is not None and not self.receiver.state & Endpoint.REMOTE_ACTIVE:
            return f"remote attach of link {self.receiver.name}"
        if self.total:
            return f"message {len(self.seen) + 1} of {self.total} on {self.opts.address}"
        return f"messages on {self.opts.address}"

    def missing(self) -> list[Any]:
        seen = self.seen
        return [i for i in range(1, self.total + 1) if i not in seen and str(i) not in seen]

    def result_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "count": self.total,
            "received": len(self.seen),
            "duplicates": self.duplicates,
        }
        if self.total:
            fields["missing"] = self.missing()
        fields["reconnects"] = max(0, self.opens - 1)
        return fields


class Serve(Peer):
    """server.py (connect: anonymous relay or a sender per reply_to) / server_direct.py (--listen)."""

    role = "serve"

    def __init__(self, opts: argparse.Namespace, out: Output) -> None:
        super().__init__(opts, out)
        self.total = opts.count
        self.served = 0
        self.settled = 0
        self.receiver: Any = None
        self.relay: Any = None
        self.senders: dict[str, Any] = {}

    def start_connected(self, container: Container, connection: Any) -> None:
        self.receiver = container.create_receiver(connection, self.opts.address)

    def on_connection_opened(self, event: Any) -> None:
        super().on_connection_opened(event)
        # (after a reconnect proton re-attaches the links it already has: keep them)
        caps = event.connection.remote_offered_capabilities or ()
        if not self.opts.listen and ANONYMOUS_RELAY in caps and self.relay is None:
            self.relay = event.container.create_sender(event.connection, None)

    def on_link_opening(self, event: Any) -> None:
        # listen mode: the client's reply receiver; answer a dynamic source with an address
        link = event.link
        if link.is_sender:
            if link.remote_source.dynamic:
                address = f"dynamic.{uuid.uuid4()}"
                link.source.address = address
            else:
                address = link.remote_source.address
                link.source.address = address
            if address:
                self.senders[address] = link
        else:
            link.target.address = link.remote_target.address

    def on_link_opened(self, event: Any) -> None:
        super().on_link_opened(event)
        if event.link.is_receiver and not self.opts.listen:
            self.ready(self.url)

    def on_message(self, event: Any) -> None:
        request = event.message
        if not self.quiet:
            self.out.event(
                "message",
                id=request.id,
                body=request.body,
                reply_to=request.reply_to,
                correlation_id=request.correlation_id,
            )
        reply_to = request.reply_to
        if not reply_to:
            self.out.event("link_error", condition=None, description="request without reply_to")
            return
        body = request.body
        if isinstance(body, bytes):
            body = body.upper()
        else:
            body = str(body).upper()
        correlation = request.correlation_id if request.correlation_id is not None else request.id
        reply = Message(address=reply_to, body=body, correlation_id=correlation)
        if self.relay is not None:
            sender = self.relay
        else:
            sender = self.senders.get(reply_to)
            if sender is None:
                if self.opts.listen:
                    self.out.event(
                        "link_error", condition=None, description=f"no link for {reply_to}"
                    )
                    return
                sender = event.container.create_sender(event.connection, reply_to)
                self.senders[reply_to] = sender
        dlv = sender.send(reply)
        dlv.ia_id = correlation
        self.served += 1
        if not self.quiet:
            self.out.event("sent", id=correlation, body=body, to=reply_to)

    def on_accepted(self, event: Any) -> None:
        self.outcome_event(event.delivery, getattr(event.delivery, "ia_id", None))

    def on_rejected(self, event: Any) -> None:
        self.outcome_event(event.delivery, getattr(event.delivery, "ia_id", None))

    def on_released(self, event: Any) -> None:
        self.outcome_event(event.delivery, getattr(event.delivery, "ia_id", None))

    def on_settled(self, event: Any) -> None:
        if not event.link.is_sender:
            return
        self.settled += 1
        if not self.quiet:
            self.out.event("settled", id=getattr(event.delivery, "ia_id", None))
        if self.total and self.settled >= self.total and not self.done:
            self.complete(event.connection)

    def waiting_for(self) -> str:
        if self.opens == 0:
            return super().waiting_for()
        if self.receiver is not None and not self.receiver.state & Endpoint.REMOTE_ACTIVE:
            return f"remote attach of link {self.receiver.name}"
        if self.served < self.total or not self.total:
            return f"request {self.served + 1} on {self.opts.address}"
        return f"settlement of reply {self.settled + 1} of {self.total}"

    def result_fields(self) -> dict[str, Any]:
        return {"served": self.served}


class DynamicCapabilities(LinkOption):  # type: ignore[misc]
    """``--dynamic-capability``: symbols on the dynamic reply source's capabilities.

    Why: a broker may answer a dynamic source only when it names the broker's
    own kind of node (RabbitMQ 4.2+: ``rabbitmq:volatile-queue``, Direct
    Reply-To). Such a node lives as long as the link and delivers pre-settled,
    so with a capability the source also asks for expiry-policy link-detach and
    snd-settle-mode settled (peers/CONTRACT.md). Without the option the source
    is the tutorial's.
    """

    def __init__(self, opts: argparse.Namespace) -> None:
        self.symbols = list(opts.dynamic_capabilities)

    def apply(self, link: Any) -> None:
        if not self.symbols:
            return
        data = link.source.capabilities
        data.put_array(False, Data.SYMBOL)
        data.enter()
        for name in self.symbols:
            data.put_symbol(symbol(name))
        data.exit()
        link.source.expiry_policy = Terminus.EXPIRE_WITH_LINK
        link.snd_settle_mode = Link.SND_SETTLED


class Request(Peer):
    """client.py: a dynamic reply receiver first, then the requests with reply_to set."""

    role = "request"

    def __init__(self, opts: argparse.Namespace, out: Output) -> None:
        super().__init__(opts, out)
        self.requests: list[str] = list(opts.requests)
        self.receiver: Any = None
        self.sender: Any = None
        self.reply_to: str | None = None
        self.next_index = 0  # next request to send
        self.answered: dict[int, Any] = {}
        self.credit = _CreditTracker()

    def correlation(self, index: int) -> str:
        return f"request-{index + 1}"

    def start_connected(self, container: Container, connection: Any) -> None:
        self.receiver = container.create_receiver(
            connection, None, dynamic=True, options=DynamicCapabilities(self.opts)
        )

    def on_link_opened(self, event: Any) -> None:
        super().on_link_opened(event)
        if event.link.is_receiver and self.receiver is not None and event.link == self.receiver:
            address = event.link.remote_source.address
            if not address:
                self.fail("the dynamic receiver was attached without an address")
                return
            self.reply_to = address
            self.next_index = 0  # (re)send every unanswered request with the new reply_to
            if self.sender is None:
                self.sender = event.container.create_sender(event.connection, self.opts.address)
            elif self.sender.credit:
                self.send_requests(self.sender)

    def on_sendable(self, event: Any) -> None:
        if self.sender is None or event.link != self.sender:
            return
        if not self.quiet and self.credit.granted(event.sender.credit):
            self.out.event("sendable", link=event.sender.name, credit=event.sender.credit)
        self.send_requests(event.sender)

    def send_requests(self, sender: Any) -> None:
        if self.reply_to is None:
            return
        while sender.credit and self.next_index < len(self.requests):
            i = self.next_index
            self.next_index += 1
            if i in self.answered:
                continue
            msg = Message(
                id=i + 1,
                correlation_id=self.correlation(i),
                reply_to=self.reply_to,
                body=self.requests[i],
            )
            sender.send(msg)
            if not self.quiet:
                self.out.event("sent", id=i + 1, body=self.requests[i])
        self.credit.spent(sender.credit)

    def on_message(self, event: Any) -> None:
        reply = event.message
        index = self.index_of(reply.correlation_id)
        request = self.requests[index] if index is not None else None
        if not self.quiet:
            self.out.event(
                "message",
                id=reply.id,
                body=reply.body,
                correlation_id=reply.correlation_id,
                request=request,
            )
        if index is None:
            self.error = self.error or f"reply with unknown correlation_id {reply.correlation_id!r}"
            return
        if index in self.answered:
            return
        self.answered[index] = reply.body
        expected = request.upper() if isinstance(request, str) else request
        if reply.body != expected and self.error is None:
            self.error = f"reply {reply.body!r} to {request!r}: expected {expected!r}"
        if len(self.answered) == len(self.requests):
            self.complete(event.connection)

    def index_of(self, correlation_id: Any) -> int | None:
        for i in range(len(self.requests)):
            if correlation_id in (self.correlation(i), i + 1):
                return i
        return None

    def after_disconnect(self, event: Any) -> None:
        self.credit.spent(0)

    def waiting_for(self) -> str:
        if self.opens == 0:
            return super().waiting_for()
        if self.receiver is not None and not self.receiver.state & Endpoint.REMOTE_ACTIVE:
            return f"remote attach of link {self.receiver.name} (dynamic reply address)"
        if self.sender is not None and not self.sender.state & Endpoint.REMOTE_ACTIVE:
            return f"remote attach of link {self.sender.name}"
        if self.next_index < len(self.requests):
            return f"credit on sender to {self.opts.address}"
        return f"reply {len(self.answered) + 1} of {len(self.requests)}"

    def result_fields(self) -> dict[str, Any]:
        return {
            "requests": len(self.requests),
            "replies": len(self.answered),
            "reply_to": self.reply_to,
        }


PEERS: dict[str, type[Peer]] = {
    "hello": Hello,
    "send": Send,
    "receive": Receive,
    "serve": Serve,
    "request": Request,
}


# --------------------------------------------------------------------------- main


def install_signal_handlers(peer: Peer) -> None:
    """SIGTERM/SIGINT print the result line and exit at once, whatever the reactor does."""

    def handler(signum: int, frame: Any) -> None:
        peer.on_signal(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_peer(peer: Peer) -> int:
    """Run a peer's container to the end and return its exit code."""
    install_signal_handlers(peer)
    container = make_container(peer, peer.opts.url)
    container.container_id = f"amqp-interop-python-{peer.role}-{os.getpid()}"
    try:
        container.run()
    except Exception as exc:  # a bug or a library error: still one result line, exit 1
        sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n")
        if peer.error is None:
            peer.error = f"{type(exc).__name__}: {exc}"
        if peer.exit_code is None:
            peer.exit_code = EXIT_FAILED
            peer.out.result(peer.result())
    if peer.exit_code is None:
        peer.finish()
    return peer.exit_code if peer.exit_code is not None else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    try:
        opts = parse_options(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        usage_exit(str(exc))
    out = Output(quiet=opts.quiet)
    peer = PEERS[opts.role](opts, out)
    return run_peer(peer)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
