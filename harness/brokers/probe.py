"""AMQP readiness: a broker is ready when an AMQP open handshake succeeds.

Why not a log line: logs differ per broker and version, and a log can say
"started" while the listener is not yet bound (or bound elsewhere). The open
frame also tells us who answered (product, version), which every result records.

Failures become one line a person can act on: refused, silent, not AMQP, or
authentication refused, each naming the address.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from proton import Link, Message, ProtonException, Terminus, Timeout, symbol
from proton.reactor import LinkOption
from proton.utils import BlockingConnection

from .base import BrokerError, BrokerIdentity

__all__ = [
    "ConnectionRefused",
    "declare_queue_by_attach",
    "declare_queue_by_management",
    "probe",
    "settle_if_unsettled",
    "wait_ready",
]

#: seconds a failed connection attempt may take to clean up after its timeout
_CLEANUP_GRACE = 2.0
#: the SASL layer's protocol header: what a client sends first to an AMQP 1.0 server with SASL
_SASL_HEADER = b"AMQP\x03\x01\x00\x00"


class ConnectionRefused(BrokerError):
    """Nothing listens at the address: the operating system refused the TCP connection."""


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _plain(value: Any) -> Any:
    """Proton's symbol/described types as plain JSON-friendly values."""
    if isinstance(value, bytes | bytearray | memoryview):  # proton gives binary as a memoryview
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return str(value)


def _sniff(host: str, port: int, timeout: float) -> bytes | None:
    """Send the SASL header and return the first bytes the server answers (None: silence)."""
    try:
        with socket.create_connection((host, port), timeout=max(timeout, 0.1)) as s:
            s.sendall(_SASL_HEADER)
            return s.recv(64)
    except (TimeoutError, OSError):
        return None


def _remote(conn: Any, attr: str) -> Any:
    """A field of the broker's open as proton converts it; None when proton cannot.

    The open frame is the broker's input to us, and proton's own conversion
    raises on odd values: TypeError for capabilities that are not symbols,
    UnicodeDecodeError for a container-id that is not UTF-8, OverflowError for
    a char beyond Unicode (found by scripts/fuzz.py). Any of them means "unreadable".
    """
    try:
        return getattr(conn, attr)
    except Exception:
        return None


def _identity(conn: Any) -> BrokerIdentity:
    # the identity is informational: odd types (a list for properties, an int for
    # capabilities) are read as well as they can be, never a raw exception
    props = _remote(conn, "remote_properties")
    props = _plain(dict(props)) if isinstance(props, dict) else {}
    caps = _remote(conn, "remote_offered_capabilities")
    if caps is None:
        caps = []
    elif not isinstance(caps, list | tuple):
        caps = [caps]
    return BrokerIdentity(
        product=str(props.get("product", "")),
        version=str(props.get("version", "")),
        container_id=str(_remote(conn, "remote_container") or ""),
        offered_capabilities=[str(c) for c in caps],
        properties=props,
    )


def _connect(
    host: str, port: int, timeout: float, user: str | None, password: str | None
) -> BlockingConnection:
    kwargs: dict[str, Any] = {"allow_insecure_mechs": True}
    if user is not None:
        kwargs.update(user=user, password=password or "", allowed_mechs="PLAIN")
    else:
        kwargs["allowed_mechs"] = "ANONYMOUS"
    # BlockingConnection's own timeout does not bound its cleanup: a server that stops in
    # the middle of a frame (and keeps the socket open) held it in close() for good. So it
    # runs in a thread of its own, and the wait for it has a deadline.
    got: dict[str, Any] = {}

    def attempt() -> None:
        try:
            got["conn"] = BlockingConnection(
                f"amqp://{_hostport(host, port)}", timeout=timeout, **kwargs
            )
        except BaseException as e:  # handed to the caller's thread as it is
            got["error"] = e

    t = threading.Thread(target=attempt, name=f"probe-{port}", daemon=True)
    t.start()
    t.join(timeout + _CLEANUP_GRACE)
    if t.is_alive():
        raise Timeout(f"no open within {timeout:g} s (the server stalled mid-frame)")
    if "error" in got:
        raise got["error"]
    return got["conn"]


def probe(
    host: str,
    port: int,
    timeout: float = 5.0,
    user: str | None = None,
    password: str | None = None,
) -> BrokerIdentity:
    """Open an AMQP connection, read who answered, close it.

    SASL ANONYMOUS without credentials, PLAIN with them. Raises ``BrokerError``
    with one line within about ``timeout`` seconds when no open comes back.
    """
    where = _hostport(host, port)
    started = time.monotonic()
    try:
        conn = _connect(host, port, timeout, user, password)
    except Timeout:
        raise BrokerError(f"no AMQP open from {where} within {timeout:g} s") from None
    except ProtonException as e:
        text = str(e)
        if "refused" in text.lower():
            raise ConnectionRefused(f"connection refused at {where}") from None
        if "unauthorized" in text or "authentication" in text.lower():
            raise BrokerError(f"{where} refused the credentials ({_mech(user)})") from None
        remaining = timeout - (time.monotonic() - started)
        sent = _sniff(host, port, min(remaining, 2.0))
        if sent is not None and not sent.startswith(b"AMQP"):
            shown = repr(sent[:12])
            if len(sent) > 12:
                shown = shown[:-1] + "..." + shown[-1]
            raise BrokerError(f"{where} is not an AMQP server (it sent {shown})") from None
        if not sent:
            raise BrokerError(f"{where} closed the connection before an AMQP open") from None
        raise BrokerError(f"AMQP open with {where} failed: {_condition(text)}") from None
    try:
        return _identity(conn.conn)
    finally:
        try:
            conn.close()
        except ProtonException:
            pass  # the broker went away after its open: the identity still stands


def _mech(user: str | None) -> str:
    return f"SASL PLAIN as {user!r}" if user is not None else "SASL ANONYMOUS"


def _condition(text: str) -> str:
    """The useful part of proton's "Connection URL disconnected: Condition(...)" text."""
    one = " ".join(text.split())
    marker = " disconnected: "
    if marker in one:
        one = one.split(marker, 1)[1]
    return one[:200]


def wait_ready(
    host: str,
    port: int,
    deadline_s: float,
    user: str | None = None,
    password: str | None = None,
    probe_timeout: float = 5.0,
    interval: float = 0.25,
    alive: Callable[[], str | None] | None = None,
    retry_refused: bool = True,
) -> BrokerIdentity:
    """Probe until an open succeeds or ``deadline_s`` seconds have passed.

    ``alive`` is asked before every try and returns a reason when the broker can
    no longer come up (its process exited): then waiting on is pointless and the
    reason is raised at once. ``retry_refused=False`` gives up at the first
    refused connection (``ConnectionRefused``): right for a broker nobody is
    starting, where a closed port will stay closed. A server that accepts and
    stays silent is still waited for. On the deadline the last probe's reason
    is raised.
    """
    end = time.monotonic() + deadline_s
    last = f"nothing tried at {_hostport(host, port)}"
    while True:
        if alive is not None:
            dead = alive()
            if dead:
                raise BrokerError(dead)
        left = end - time.monotonic()
        if left <= 0:
            raise BrokerError(
                f"broker at {_hostport(host, port)} not ready within {deadline_s:g} s: {last}"
            )
        try:
            return probe(host, port, min(probe_timeout, max(left, 0.5)), user, password)
        except ConnectionRefused:
            if not retry_refused:
                raise
            last = f"connection refused at {_hostport(host, port)}"
        except BrokerError as e:
            last = str(e)
        time.sleep(min(interval, max(end - time.monotonic(), 0)))


class _DurableTerminus(LinkOption):
    """Ask for a durable node: brokers that create a queue on attach copy this into the queue."""

    def apply(self, link: Link) -> None:
        link.target.durability = Terminus.DELIVERIES
        link.target.expiry_policy = Terminus.EXPIRE_NEVER


class _Paired(LinkOption):
    """The link pair of RabbitMQ 4's management node: same name, ``paired``, pre-settled."""

    def apply(self, link: Link) -> None:
        link.properties = {symbol("paired"): True}
        link.snd_settle_mode = Link.SND_SETTLED


def declare_queue_by_attach(
    host: str,
    port: int,
    address: str,
    timeout: float = 10.0,
    user: str | None = None,
    password: str | None = None,
) -> None:
    """Create a durable queue by attaching a sender with a durable target terminus.

    Why: RabbitMQ 3.x's AMQP 1.0 plugin declares the queue behind ``/queue/NAME``
    with the durability of the first attach's terminus. Peers attach with a
    non-durable terminus, so their queue would lose its messages on a restart;
    declaring it durable first (and then using ``/amq/queue/NAME``, which never
    declares) keeps them.
    """
    where = _hostport(host, port)
    try:
        conn = _connect(host, port, timeout, user, password)
    except ProtonException as e:
        raise BrokerError(
            f"cannot connect to {where} to declare {address}: {_condition(str(e))}"
        ) from None
    try:
        conn.create_sender(address, options=_DurableTerminus())
    except ProtonException as e:
        raise BrokerError(
            f"{where} did not accept a durable attach to {address}: {_condition(str(e))}"
        ) from None
    finally:
        try:
            conn.close()
        except ProtonException:
            pass


def settle_if_unsettled(receiver: Any) -> bool:
    """Accept the message ``receiver.receive()`` just returned, unless it came settled.

    Why: a sender may settle a delivery itself (snd-settle-mode ``settled``, or
    ``mixed`` with ``settled`` set on the transfer; AMQP 1.0 2.7.5). RabbitMQ 4's
    management node sends its replies that way, as the paired link asks. Such a
    delivery has no outcome left to give, and proton's ``BlockingReceiver.accept()``
    only settles deliveries it holds as unsettled (an empty queue: IndexError).
    Returns whether a disposition was sent.
    """
    fetcher = getattr(receiver, "fetcher", None)
    if fetcher is None or not fetcher.unsettled:
        return False
    receiver.accept()
    return True


def declare_queue_by_management(
    host: str,
    port: int,
    name: str,
    timeout: float = 10.0,
    user: str | None = None,
    password: str | None = None,
) -> None:
    """Declare a durable classic queue through RabbitMQ 4's AMQP management node.

    Why: with RabbitMQ 4's address v2 (``/queues/NAME``) an attach never creates
    a queue; a client asks ``/management`` with an HTTP-like request
    (``PUT /queues/NAME``) over a paired link. 200 and 201 are success.
    """
    where = _hostport(host, port)
    try:
        conn = _connect(host, port, timeout, user, password)
    except ProtonException as e:
        raise BrokerError(
            f"cannot connect to {where} to declare {name}: {_condition(str(e))}"
        ) from None
    try:
        sender = conn.create_sender("/management", name="management-link-pair", options=_Paired())
        receiver = conn.create_receiver(
            "/management", credit=1, name="management-link-pair", options=_Paired()
        )
        request_id = str(uuid.uuid4())
        request = Message(
            id=request_id,
            address="/queues/" + quote(name, safe=""),
            subject="PUT",
            reply_to="$me",
            body={"durable": True, "exclusive": False, "auto_delete": False, "arguments": {}},
        )
        sender.send(request, timeout=timeout)
        reply = receiver.receive(timeout=timeout)
        settle_if_unsettled(receiver)
        if str(reply.subject) not in ("200", "201"):
            raise BrokerError(
                f"{where} refused to declare queue {name}: status {reply.subject}, {reply.body!r}"[
                    :300
                ]
            )
    except ProtonException as e:
        raise BrokerError(
            f"declaring queue {name} at {where} failed: {_condition(str(e))}"
        ) from None
    finally:
        try:
            conn.close()
        except ProtonException:
            pass
