"""The AMQP side of the pyamqp peer: one connection's loop and the five roles.

Everything from ``azure.servicebus._pyamqp`` is used here and only here. The
library is a private module of azure-servicebus: its version is pinned in
requirements.txt, and what it does differently from the contract's other
implementations is in NOTES.md.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from args import CLOSE_WAIT_S, SOCKET_TIMEOUT_S, Fatal, Lost, jsonable
from azure.servicebus._pyamqp._connection import Connection as _PyamqpConnection
from azure.servicebus._pyamqp.constants import (
    ConnectionState,
    LinkDeliverySettleReason,
    LinkState,
    SenderSettleMode,
    SessionState,
)
from azure.servicebus._pyamqp.endpoints import Source
from azure.servicebus._pyamqp.error import AMQPConnectionError, ErrorCondition
from azure.servicebus._pyamqp.message import Header, Message, Properties
from azure.servicebus._pyamqp.outcomes import Accepted, Released
from azure.servicebus._pyamqp.sasl import SASLAnonymousCredential, SASLPlainCredential
from azure.servicebus._pyamqp.sender import SenderLink

__all__ = [  # what roles.py takes from here, pyamqp's types included
    "Accepted",
    "Connection",
    "Header",
    "Message",
    "Properties",
    "Released",
    "SenderSettleMode",
    "Source",
    "UNREPORTED",
    "as_id",
    "body_of",
    "id_key",
    "jsonable",
    "make_role",
    "message_fields",
    "text",
]

#: events of the contract's vocabulary this peer cannot report (none: it tracks credit itself)
UNREPORTED: tuple[str, ...] = ()
RECEIVER_CREDIT = 100
SESSION_WINDOW = 2**31 - 1  # pyamqp counts its outgoing window down and never up
ANONYMOUS_RELAY = "ANONYMOUS-RELAY"


def text(value: Any) -> str | None:
    """A decoded string (pyamqp gives bytes for string, symbol and binary alike)."""
    if value is None:
        return None
    return jsonable(value) if isinstance(value, bytes | bytearray) else str(value)


def as_id(value: Any) -> Any:
    """A decoded message-id or correlation-id, to send again: bytes that are UTF-8 as a string."""
    if isinstance(value, bytes | bytearray):
        decoded = jsonable(value)
        return decoded if isinstance(decoded, str) and decoded.encode() == bytes(value) else value
    return value


class _Conn(_PyamqpConnection):
    """pyamqp's Connection, keeping what it discards of the remote open."""

    remote_container: str | None = None
    remote_capabilities: tuple[str, ...] = ()

    def _incoming_open(self, channel: int, frame: Any) -> None:
        self.remote_container = text(frame[0])
        caps = frame[7] or []
        caps = [caps] if isinstance(caps, bytes | str) else caps
        self.remote_capabilities = tuple(text(c) or "" for c in caps)
        super()._incoming_open(channel, frame)


class CreditSender(SenderLink):
    """A sender that knows the credit the receiver granted.

    pyamqp's SenderLink sets its own credit to its configured link_credit on
    attach and again whenever it runs out, so it would send without credit;
    here the limit is the receiver's delivery-count plus link-credit (2.6.7).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit: int | None = None
        self.on_credit: Any = None

    def _incoming_flow(self, frame: Any) -> None:
        super()._incoming_flow(frame)
        if frame[4] is not None and frame[6] is not None:  # handle, link-credit
            count = frame[5] if frame[5] is not None else self.initial_delivery_count
            self.limit = count + frame[6]
            if self.on_credit is not None:
                self.on_credit(self)

    def budget(self) -> int:
        if self.state != LinkState.ATTACHED or self.limit is None:
            return 0
        unsent = sum(1 for d in self._pending_deliveries if not d.sent)
        return max(0, self.limit - self.delivery_count - unsent)


def outcome_name(reason: Any, state: Any) -> str | None:
    """accepted/released/modified/rejected, "settled" without an outcome, None if not delivered."""
    if reason == LinkDeliverySettleReason.DISPOSITION_RECEIVED:
        if isinstance(state, dict) and state:
            return str(text(next(iter(state))))
        return "settled"
    if reason == LinkDeliverySettleReason.SETTLED:
        return "settled"
    return None


class Connection:
    """One connection's life: open, session, the role's links, a clean close."""

    def __init__(self, peer: Any) -> None:
        self.peer, self.out, self.opts = peer, peer.out, peer.opts
        self.role = peer.role
        o = self.opts
        cred = (
            SASLPlainCredential(o.user, o.password)
            if o.user is not None and o.password is not None
            else SASLAnonymousCredential()
        )
        self.conn = _Conn(
            f"amqp://{o.host_port}",
            sasl_credential=cred,
            use_tls=False,
            socket_timeout=SOCKET_TIMEOUT_S,
            idle_wait_time=SOCKET_TIMEOUT_S,
            container_id=f"amqp-interop-pyamqp-{o.role}-{id(self)}",
        )
        self.session: Any = None
        #: the error of an end frame the remote sent (pyamqp drops it: "TODO: handling error")
        self.session_ended: tuple[str | None, str | None] | None = None
        #: names of the links whose attach the remote answered
        self._opened: set[str] = set()
        self.links: list[Any] = []

    # ------------------------------------------------------------ pumping

    def _problem(self, e: AMQPConnectionError) -> Exception:
        condition = text(getattr(e.condition, "value", e.condition)) or ""
        description = text(e.description) or ""
        if e.condition == ErrorCondition.SocketError or "already closed" in description:
            return Lost(description or condition)
        self.out.event("connection_error", condition=condition, description=description)
        if condition == "amqp:connection:forced" and self.opts.reconnect:
            return Lost(f"{condition}: {description}")
        return Fatal(f"connection error {condition}: {description}")

    def pump(self) -> None:
        """Read and handle what has come (up to one socket tick); Lost or Fatal when it is over."""
        try:
            self.conn.listen(wait=False, batch=200)
            if self.conn._error is not None:
                raise self.conn._error
        except AMQPConnectionError as e:
            raise self._problem(e) from None
        except (OSError, ValueError) as e:
            raise Lost(str(e)) from None
        if self.conn.state == ConnectionState.END:
            raise Lost("the connection was closed")
        if self.session_ended is not None:
            condition, description = self.session_ended
            for link in self.links:
                self.out.event(
                    "link_error", link=link.name, condition=condition, description=description
                )
            # the remote ended the session (2.5.5): every link on it is gone; waiting
            # for an attach to be answered would only end in the peer's timeout
            raise Fatal(f"the remote ended the session with {condition}: {description or ''}")
        for link in self.links:
            if link.state == LinkState.DETACHED and link.name not in self._opened:
                # _pyamqp takes an attach answer without a source or a target for a refusal,
                # marks the link detached and sends nothing: waiting would only time out
                self.out.event("link_error", link=link.name, condition=None, description=None)
                raise Fatal(
                    f"the library dropped link {link.name}: the remote's attach answer has "
                    "no source or no target, which azure-servicebus _pyamqp treats as a refusal"
                )
            if link.state == LinkState.ERROR:
                err = link._error
                condition = text(getattr(err.condition, "value", err.condition)) if err else None
                description = text(err.description) if err else None
                self.out.event(
                    "link_error", link=link.name, condition=condition, description=description
                )
                raise Fatal(f"link {link.name} closed with {condition}: {description or ''}")

    def _watch_end(self, session: Any) -> None:
        """Keep the error of the remote's end frame, which pyamqp reads and throws away."""
        incoming_end = session._incoming_end

        def on_end(frame: Any) -> None:
            if not self.peer.done and self.session_ended is None:
                err = frame[0] if frame else None
                condition = text(err[0]) if err else None
                description = text(err[1]) if err and len(err) > 1 else None
                self.session_ended = (condition, description)
            incoming_end(frame)

        session._incoming_end = on_end

    def until(self, done: Any) -> None:
        while not done():
            self.pump()

    # ------------------------------------------------------------ the life

    def run(self) -> None:
        try:
            try:
                self.conn.open()
            except (AMQPConnectionError, OSError, ValueError) as e:
                raise Lost(" ".join(str(getattr(e, "description", None) or e).split())) from None
            self.until(lambda: self.conn.state == ConnectionState.OPENED)
            self.peer.opened(self.conn.remote_container)
            self.session = self.conn.create_session(
                incoming_window=SESSION_WINDOW, outgoing_window=SESSION_WINDOW
            )
            self._watch_end(self.session)
            self.session.begin()
            self.until(lambda: self.session.state == SessionState.MAPPED)
            try:
                self.role.start(self)
                while not self.role.step(self):
                    self.pump()
            except AMQPConnectionError as e:  # a send or an attach on a connection that broke
                raise self._problem(e) from None
            except OSError as e:
                raise Lost(str(e)) from None
        except (Lost, Fatal):
            self._drop()
            raise
        self.peer.done = True
        self._close()
        self.out.event("connection_closed")

    def _drop(self) -> None:
        try:
            self.conn._disconnect()
        except Exception:  # noqa: BLE001  the socket is going anyway
            pass

    def _close(self) -> None:
        """Detach every link, end the session, close (each answered, or 2 s)."""
        deadline = time.monotonic() + CLOSE_WAIT_S

        def wait(cond: Any) -> None:
            while not cond() and time.monotonic() < deadline:
                self.conn.listen(wait=False, batch=50)
                if self.conn._error is not None or self.conn.state == ConnectionState.END:
                    return

        try:
            for link in self.links:
                link.detach(close=True)
            gone = (LinkState.DETACHED, LinkState.ERROR)
            wait(lambda: all(link.state in gone for link in self.links))
            self.session.end()
            wait(lambda: self.session.state == SessionState.UNMAPPED)
            self.conn.close(wait=max(0.1, deadline - time.monotonic()))
        except Exception as e:  # noqa: BLE001  the role is done; a messy close is only noted
            print(f"closing: {e}", file=sys.stderr)
            self._drop()

    # ------------------------------------------------------------ links

    def _attached(self, link: Any, role: str, frame: Any) -> None:
        self._opened.add(link.name)
        terminus = frame.source if role == "receiver" else frame.target
        address = text(terminus.address) if terminus is not None else None
        self.out.event("link_opened", link=link.name, role=role, address=address)

    def sender(self, name: str, address: str | None, on_attach: Any = None) -> CreditSender:
        session = self.session
        handle = session._get_next_output_handle()
        link: CreditSender

        def attached(frame: Any) -> None:
            self._attached(link, "sender", frame)
            if on_attach is not None:
                on_attach(frame)

        link = CreditSender(
            session,
            handle,
            address,
            name=name,
            on_attach=attached,
            network_trace=False,
            network_trace_params={},
        )
        link.on_credit = self._credit
        session._output_handles[handle] = link
        session.links[link.name] = link
        self.links.append(link)
        link.attach()
        return link

    def receiver(
        self, name: str, source: Any, on_transfer: Any, on_attach: Any = None, **kwargs: Any
    ) -> Any:
        link: Any = None

        def attached(frame: Any) -> None:
            self._attached(link, "receiver", frame)
            if on_attach is not None:
                on_attach(frame)

        def transferred(frame: Any, message: Any) -> None:
            state = on_transfer(frame, message)
            if state is not None and not frame[4]:  # an unsettled delivery: our outcome
                self.settle(link, frame, state)

        link = self.session.create_receiver_link(
            source,
            name=name,
            on_transfer=transferred,
            on_attach=attached,
            link_credit=RECEIVER_CREDIT,
            **kwargs,
        )
        self.links.append(link)
        link.attach()
        return link

    def _credit(self, link: CreditSender) -> None:
        budget = link.budget()
        if budget > 0:
            self.out.event("sendable", link=link.name, credit=budget)

    @staticmethod
    def settle(link: Any, frame: Any, state: Any) -> None:
        """Settle a received delivery. pyamqp sends the outcome a transfer callback returns only
        when it is truthy, and Accepted() and Released() are empty tuples: so never by itself."""
        link.send_disposition(
            first_delivery_id=frame[1], delivery_tag=frame[2], settled=True, delivery_state=state
        )

    @staticmethod
    def refill(link: Any) -> None:
        """pyamqp never issues credit again by itself: top the window up at half."""
        if link.state == LinkState.ATTACHED and link.current_link_credit <= RECEIVER_CREDIT // 2:
            link.flow(link_credit=RECEIVER_CREDIT)

    def send(self, link: CreditSender, message: Message, on_outcome: Any) -> None:
        link.send_transfer(message, settled=False, on_send_complete=on_outcome)

    def outcome(self, reason: Any, state: Any, ident: Any) -> str | None:
        """Print a sent delivery's outcome; its name (None: not delivered, the link went)."""
        name = outcome_name(reason, state)
        if name is None:
            return None
        if name != "settled":
            self.out.event(name, id=ident)
        self.out.event("settled", id=ident)
        return name


def message_fields(message: Any) -> dict[str, Any]:
    """A message event's fields: id, body, and reply_to, correlation_id, to when set."""
    props = message.properties
    fields: dict[str, Any] = {
        "id": jsonable(props.message_id) if props else None,
        "body": jsonable(body_of(message)),
    }
    if props is not None:
        for key in ("reply_to", "correlation_id", "to"):
            value = getattr(props, key)
            if value is not None:
                fields[key] = jsonable(value)
    return fields


def body_of(message: Any) -> Any:
    if message.value is not None:
        return message.value
    if message.data:
        return b"".join(bytes(d) for d in message.data)
    return message.sequence


def id_key(value: Any) -> str:
    return json.dumps(jsonable(value))


def make_role(peer: Any) -> Any:
    from roles import ROLES

    return ROLES[peer.opts.role](peer)
