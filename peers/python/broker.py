#!/usr/bin/env python3
"""The embedded reference broker: a small, real AMQP 1.0 broker on Qpid Proton's reactor.

The harness needs a broker that starts in well under a second, exists everywhere Python
does, and behaves the way the tutorial's scenarios assume: queues created on demand,
competing consumers, credit respected, dynamic reply addresses, ANONYMOUS-RELAY, and
at-least-once delivery (a message leaves its queue only when a consumer settles it).
With ``--store DIR`` the queues survive a restart, which the "broker restart" fault uses.

    python peers/python/broker.py [--host 127.0.0.1] [--port 0] [--store DIR] [--timeout-free]
                                  [behaviour options: see Behaviour]

A few options change one legal behaviour each (deliver pre-settled, small frames and
windows, credit one at a time, heartbeats, no ANONYMOUS-RELAY, ranged dispositions,
odd dynamic addresses, SASL PLAIN only, dynamic targets refused or left unanswered):
the harness's ``embedded:NAME`` variants are rows of such options
(harness/brokers/embedded.py), so every verdict the suite gives
can be shown to hold on any broker that does what the spec allows.

stdout carries exactly one line, ``{"kind": "ready", "url": ..., "product": ..., "version": ...}``;
everything else goes to stderr.

SASL is handled here, in front of proton's transport: proton's built-in SASL (no Cyrus)
cannot *accept* PLAIN, and the broker must take any user/password. The gate answers the
SASL header, offers ANONYMOUS and PLAIN, says "ok" to any init, and then hands the socket
to a plain AMQP transport, the same way proton's own Acceptor does.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import struct
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, NoReturn

from lazy_events import install as install_lazy_events
from plain_amqp import make_container
from proton import (
    Condition,
    Data,
    Delivery,
    Endpoint,
    Link,
    Message,
    ProtonException,
    Terminus,
    Transport,
    Url,
    symbol,
)
from proton.handlers import IOHandler

PRODUCT = "amqp-interop-broker"
VERSION = "0.1.0"
CONTAINER_ID = PRODUCT
CREDIT_WINDOW = 500  # credit the broker grants to each producer link
IDLE_EXIT_S = 900.0  # without --timeout-free, exit after this long without any connection
SASL_DEADLINE_S = 10.0

AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
SASL_HEADER = b"AMQP\x03\x01\x00\x00"


@dataclass
class Behaviour:
    """The legal choices a broker makes; the defaults are the reference broker's."""

    presettle: bool = False  # deliver pre-settled unless the receiver asked for unsettled
    max_frame_size: int = 0  # 0: proton's default
    session_window: int = 0  # incoming/outgoing session window in frames (0: proton's)
    split: int = 0  # send each delivery in transfer frames of at most this many bytes
    credit: int = CREDIT_WINDOW  # link credit granted to producers (1: one at a time)
    idle_timeout: float = 0.0  # idle-time-out advertised, seconds (the threshold is twice it)
    relay: bool = True  # offer ANONYMOUS-RELAY (else refuse links with no target address)
    batch_settle: int = 0  # accept producers' deliveries in ranged dispositions of this size
    odd_dynamic: bool = False  # long dynamic addresses with '/', ':' and non-ASCII
    plain: tuple[str, str] | None = None  # (user, password): refuse all but SASL PLAIN
    #: a sender's dynamic target (3.5.4): "answer" (a node and its address), "refuse"
    #: (2.6.3: null target, then a detach with amqp:not-implemented), "ignore" (no answer);
    #: dynamic sources (3.5.3) are answered whatever this says
    dynamic_target: str = "answer"
    sasl_deadline: float = SASL_DEADLINE_S  # a client silent this long in SASL is dropped


def log(text: str) -> None:
    sys.stderr.write(f"broker: {text}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- journal


class Journal:
    """Append-only record of enqueues and removals, replayed on start.

    Records: ``E`` seq(u64) name_len(u16) name data_len(u32) data, and ``R`` seq(u64).
    A torn last record (a kill mid-write) is ignored on replay. After replay the file is
    rewritten with only the live messages so it does not grow across restarts.
    Writes are buffered and flushed before the reactor next waits on its sockets, which is
    before any "accepted" disposition can reach a client (see ``Broker.on_reactor_quiesced``).
    """

    _E = struct.Struct(">cQH")
    _R = struct.Struct(">cQ")
    _LEN = struct.Struct(">I")

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "journal.bin")
        self.live: dict[int, tuple[str, bytes]] = {}
        self._file: BinaryIO | None = None
        self.dirty = False

    def replay(self) -> dict[int, tuple[str, bytes]]:
        """Read the journal; return seq -> (queue, encoded message) still live, in order."""
        live: dict[int, tuple[str, bytes]] = {}
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raw = b""
        pos, end = 0, len(raw)
        while pos < end:
            kind = raw[pos : pos + 1]
            if kind == b"E":
                if pos + self._E.size > end:
                    break
                _, seq, name_len = self._E.unpack_from(raw, pos)
                p = pos + self._E.size
                if p + name_len + 4 > end:
                    break
                name = raw[p : p + name_len].decode("utf-8", "replace")
                p += name_len
                (data_len,) = self._LEN.unpack_from(raw, p)
                p += 4
                if p + data_len > end:
                    break
                live[seq] = (name, raw[p : p + data_len])
                pos = p + data_len
            elif kind == b"R":
                if pos + self._R.size > end:
                    break
                _, seq = self._R.unpack_from(raw, pos)
                live.pop(seq, None)
                pos += self._R.size
            else:
                log(f"journal: unreadable record at byte {pos}; ignoring the rest")
                break
        # compact: rewrite with the live messages only, then append from there
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            for seq in sorted(live):
                f.write(self._enqueue_record(seq, *live[seq]))
        os.replace(tmp, self.path)
        self._file = open(self.path, "ab")  # noqa: SIM115 - lives as long as the broker
        return dict(sorted(live.items()))

    def _enqueue_record(self, seq: int, name: str, data: bytes) -> bytes:
        raw_name = name.encode("utf-8")
        return self._E.pack(b"E", seq, len(raw_name)) + raw_name + self._LEN.pack(len(data)) + data

    def enqueue(self, seq: int, name: str, data: bytes) -> None:
        assert self._file is not None
        self._file.write(self._enqueue_record(seq, name, data))
        self.dirty = True

    def remove(self, seq: int) -> None:
        assert self._file is not None
        self._file.write(self._R.pack(b"R", seq))
        self.dirty = True

    def flush(self) -> None:
        if self.dirty and self._file is not None:
            self._file.flush()
            self.dirty = False

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None


# --------------------------------------------------------------------------- queues


class Entry:
    """One stored message: its encoded bytes are forwarded as they came."""

    __slots__ = ("seq", "data", "queue")

    def __init__(self, seq: int, data: bytes, queue: Queue) -> None:
        self.seq = seq
        self.data = data
        self.queue = queue


class Queue:
    """A node: messages in order, consumers served round robin."""

    __slots__ = ("name", "entries", "consumers", "rr", "dynamic")

    def __init__(self, name: str, dynamic: bool = False) -> None:
        self.name = name
        self.entries: deque[Entry] = deque()
        self.consumers: list[Any] = []
        self.rr = 0
        self.dynamic = dynamic


# --------------------------------------------------------------------------- SASL gate


def _sasl_frame(descriptor: int, fill: Callable[[Data], None]) -> bytes:
    data = Data()
    data.put_described()
    data.enter()
    data.put_ulong(descriptor)
    data.put_list()
    data.enter()
    fill(data)
    data.exit()
    data.exit()
    body = data.encode()
    return struct.pack(">IBBH", 8 + len(body), 2, 1, 0) + body


def _mechanisms(data: Data) -> None:
    data.put_array(False, Data.SYMBOL)
    data.enter()
    data.put_symbol(symbol("ANONYMOUS"))
    data.put_symbol(symbol("PLAIN"))
    data.exit()


def _plain_only(data: Data) -> None:
    data.put_array(False, Data.SYMBOL)
    data.enter()
    data.put_symbol(symbol("PLAIN"))
    data.exit()


SASL_MECHANISMS = _sasl_frame(0x40, _mechanisms)
SASL_PLAIN_ONLY = _sasl_frame(0x40, _plain_only)
SASL_OUTCOME_OK = _sasl_frame(0x44, lambda d: d.put_ubyte(0))
SASL_OUTCOME_AUTH = _sasl_frame(0x44, lambda d: d.put_ubyte(1))  # sasl-code auth (5.3.3.6)


def _plain_ok(fields: list[Any], creds: tuple[str, str]) -> bool:
    """Whether a sasl-init is PLAIN with ``creds`` (initial response [authzid] NUL user NUL pass)."""
    if len(fields) < 2 or str(fields[0]) != "PLAIN" or fields[1] is None:
        return False
    parts = bytes(fields[1]).split(b"\0")
    return (
        len(parts) == 3
        and (parts[1].decode(errors="replace"), parts[2].decode(errors="replace")) == creds
    )


class _SaslGate:
    """Reactor handler for one accepted socket until its SASL exchange is over."""

    def __init__(self, broker: Broker, sock: socket.socket, peer: tuple[Any, ...]) -> None:
        self.broker = broker
        self.sock = sock
        self.peer = peer
        self.buf = b""
        self.state = "header"
        reactor = broker.container
        self.sel = reactor.selectable(handler=self, delegate=sock)
        self.sel._transport = None  # tells proton's IOHandler to leave this socket alone
        self.sel.reading = True
        reactor.update(self.sel)
        # A timer task, not the selectable's deadline: proton's IOHandler also gets a
        # selectable's expiry and reads its transport, which this socket does not have yet
        # (a client silent for 10 s took the whole broker down with an AttributeError).
        self.timer = reactor.schedule(broker.b.sasl_deadline, self)
        self.done = False

    def on_selectable_readable(self, event: Any) -> None:
        try:
            data = self.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.drop()
            return
        self.buf += data
        try:
            self.advance()
        except Exception as exc:  # malformed input: this socket only
            log(f"SASL from {self.peer}: {exc}")
            self.drop()

    def on_timer_task(self, event: Any) -> None:
        if self.done:
            return
        log(f"SASL from {self.peer}: no handshake within {self.broker.b.sasl_deadline:g} s")
        self.drop()

    def advance(self) -> None:
        if self.state == "header":
            if len(self.buf) < 8:
                return
            header, self.buf = self.buf[:8], self.buf[8:]
            plain = self.broker.b.plain
            if header == AMQP_HEADER and plain is None:  # no SASL layer: straight to AMQP
                self.handoff(header + self.buf, "none")
                return
            if header != SASL_HEADER:
                self.sock.send(SASL_HEADER)  # 2.2: the header we speak, then close
                raise ValueError(f"unsupported protocol header {header!r}")
            self.sock.sendall(SASL_HEADER + (SASL_PLAIN_ONLY if plain else SASL_MECHANISMS))
            self.state = "init"
        if self.state == "init":
            if len(self.buf) < 4:
                return
            (size,) = struct.unpack(">I", self.buf[:4])
            if size < 8 or size > 65536:
                raise ValueError(f"bad SASL frame size {size}")
            if len(self.buf) < size:
                return
            frame, self.buf = self.buf[:size], self.buf[size:]
            doff = frame[4]
            body = Data()
            body.decode(frame[doff * 4 :])
            value = body.get_object()
            mech = "?"
            described = getattr(value, "descriptor", None)
            if described != 0x41:
                raise ValueError(f"expected sasl-init, got descriptor {described!r}")
            fields = value.value
            if fields:
                mech = str(fields[0])
            plain = self.broker.b.plain
            if plain is not None and not _plain_ok(list(fields or []), plain):
                self.sock.sendall(SASL_OUTCOME_AUTH)
                raise ValueError(f"SASL {mech} refused: PLAIN with the configured user only")
            self.sock.sendall(SASL_OUTCOME_OK)
            self.handoff(self.buf, mech)

    def drop(self) -> None:
        self._over()
        self.sel.terminate()
        self.broker.container.update(self.sel)

    def _over(self) -> None:
        """The gate's work is done (dropped or handed off): its deadline no longer counts."""
        self.done = True
        self.timer.cancel()

    def handoff(self, leftover: bytes, mech: str) -> None:
        """Give the socket to a plain AMQP server transport, as proton's Acceptor would."""
        self._over()
        self.sel.release()  # do not close the socket with this selectable
        self.sel.terminate()
        reactor = self.broker.container
        reactor.update(self.sel)
        conn = reactor.connection(self.broker)
        conn._acceptor = self.broker  # tells IOHandler not to dial out for this connection
        conn.url = Url(host=str(self.peer[0]), port=int(self.peer[1]))
        conn.container = CONTAINER_ID
        conn.properties = {symbol("product"): PRODUCT, symbol("version"): VERSION}
        b = self.broker.b
        conn.offered_capabilities = [symbol("ANONYMOUS-RELAY")] if b.relay else None
        conn.ia_mech = mech
        transport = Transport(Transport.SERVER)
        if b.max_frame_size:
            transport.max_frame_size = b.max_frame_size
        if b.idle_timeout:
            # 2.4.5: the advertised idle-time-out SHOULD be half the real threshold, and
            # proton advertises half of what it is given; past the threshold it closes the
            # connection with amqp:resource-limit-exceeded
            transport.idle_timeout = 2 * b.idle_timeout
        transport.bind(conn)
        sel = reactor.selectable(delegate=self.sock)
        sel._transport = transport
        transport._selectable = sel
        if leftover:
            transport.push(leftover)
        IOHandler.update(transport, sel, reactor.now)
        self.broker.connections += 1


class _Listener:
    """The listening socket as a reactor selectable (SO_REUSEADDR for quick restarts)."""

    def __init__(self, broker: Broker, host: str, port: int) -> None:
        self.broker = broker
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
        self.sock = sock
        self.port = sock.getsockname()[1]
        reactor = broker.container
        self.sel = reactor.selectable(handler=self, delegate=sock)
        self.sel._transport = None
        self.sel.reading = True
        reactor.update(self.sel)

    def on_selectable_readable(self, event: Any) -> None:
        for _ in range(64):
            try:
                conn_sock, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log(f"accept failed: {exc}")
                return
            conn_sock.setblocking(False)
            conn_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _SaslGate(self.broker, conn_sock, peer)

    def close(self) -> None:
        self.sel.terminate()
        self.broker.container.update(self.sel)


# --------------------------------------------------------------------------- broker


def _guarded(method: Callable[[Broker, Any], None]) -> Callable[[Broker, Any], None]:
    """A bug or odd input while handling one connection's event closes that connection only."""

    def wrapper(self: Broker, event: Any) -> None:
        try:
            method(self, event)
        except Exception as exc:
            log(f"error in {method.__name__}: {exc}\n{traceback.format_exc()}")
            conn = getattr(event, "connection", None)
            if conn is not None and not conn.state & Endpoint.LOCAL_CLOSED:
                conn.condition = Condition("amqp:internal-error", str(exc))
                conn.close()

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class _Later:
    """A reactor timer that calls ``fn``."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn

    def on_timer_task(self, event: Any) -> None:
        try:
            self.fn()
        except Exception as exc:  # one batch's trouble must not stop the broker
            log(f"error in a timer: {exc}\n{traceback.format_exc()}")


class _IOOnly:
    """The reactor's global handler, minus the detour for events it has nothing to do with.

    Proton's Container wraps its IOHandler in a handler that, for every event
    (each delivery, each flow), looks for per-connection overrides (used only
    by connections the container dials) and then falls back to the IOHandler
    through ``on_unhandled``. Binding only the IOHandler's own event methods
    here makes a delivery event cost one failed attribute lookup in the global
    handler instead of that chain (about a tenth of the broker's CPU per
    message; scripts/bench_throughput.py).
    """

    def __init__(self, io: IOHandler) -> None:
        for name in dir(io):
            if name.startswith("on_") and name != "on_unhandled":
                setattr(self, name, getattr(io, name))
        self._selector = io._selector
        self.on_transport = self._on_transport

    def _on_transport(self, event: Any) -> None:
        """IOHandler's, minus one event: the socket's new interest goes to the selector at once.

        Proton's own pushes a "selectable updated" event for every transport
        event, whose only work is the same selector update; with a client
        that writes each message on its own (rhea) that was a third of all
        the broker's events. A selectable that has ended still goes the event
        way, which removes it.
        """
        t = event.transport
        s = t._selectable
        if not s or s.is_terminal:
            return
        for flag, amount in (("reading", t.capacity), ("writing", t.pending)):
            try:
                setattr(s, flag, amount() > 0)
            except ProtonException:  # the transport is done with that side
                if t.closed:
                    s.terminate()
                    s._transport = None
                    t._selectable = None
        s.deadline = t.tick(t._reactor.now)
        if s.is_terminal:
            s.update()  # the final event, as proton would push it
        else:
            self._selector.update(s)


class _Stop(BaseException):
    """Raised from the signal handler to leave the reactor loop.

    A BaseException, so that no ``except Exception`` on the way (ours in ``_guarded``,
    or proton's) can swallow a shutdown that arrives in the middle of an event.
    """


class Broker:
    """The reactor handler: connections, links, queues, deliveries."""

    def __init__(
        self,
        host: str,
        port: int,
        store: str | None,
        idle_exit: float | None,
        behaviour: Behaviour | None = None,
    ) -> None:
        self.b = behaviour or Behaviour()
        self.host = host
        self.port = port
        self.queues: dict[str, Queue] = {}
        self.journal = Journal(store) if store else None
        self.seq = 0
        self.dynamic_counter = 0
        self.idle_exit = idle_exit
        self.connections = 0
        self.last_activity = time.monotonic()
        self.container: Any = None
        self.listener: _Listener | None = None
        self.stopping = False  # set by SIGTERM/SIGINT
        self.empty_transfers = 0
        self.to_settle: list[Any] = []  # batch_settle: producers' deliveries not yet accepted
        self.settle_timer = False

    # ---- start

    def on_reactor_init(self, event: Any) -> None:
        self.container = event.container
        if self.journal is not None:
            live = self.journal.replay()
            for seq, (name, data) in live.items():
                queue = self.queue(name)
                queue.entries.append(Entry(seq, data, queue))
                self.seq = max(self.seq, seq)
            if live:
                log(f"restored {len(live)} messages from {self.journal.path}")
        self.listener = _Listener(self, self.host, self.port)
        url = f"amqp://{self.host}:{self.listener.port}"
        sys.stdout.write(
            json.dumps({"kind": "ready", "url": url, "product": PRODUCT, "version": VERSION}) + "\n"
        )
        sys.stdout.flush()
        log(f"listening on {url}")
        if self.idle_exit:
            self.container.schedule(10.0, self)

    def on_timer_task(self, event: Any) -> None:
        """Idle watchdog: a broker nobody uses for a long time must not linger forever."""
        if self.open_connections():
            self.last_activity = time.monotonic()
        elif time.monotonic() - self.last_activity > self.idle_exit:
            log(f"no connection for {self.idle_exit:g} s; exiting")
            raise _Stop()
        self.container.schedule(10.0, self)

    def open_connections(self) -> int:
        return self.connections

    def on_reactor_quiesced(self, event: Any) -> None:
        # the reactor is about to wait on sockets: make stored messages durable first,
        # so no "accepted" for a stored message reaches a client before it is flushed
        if self.journal is not None:
            self.journal.flush()
        if self.stopping:
            raise _Stop()

    # ---- queues

    def queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = Queue(name)
        return queue

    def enqueue(self, queue: Queue, data: bytes) -> None:
        self.seq += 1
        entry = Entry(self.seq, data, queue)
        if self.journal is not None and not queue.dynamic:
            self.journal.enqueue(entry.seq, queue.name, data)
        queue.entries.append(entry)

    def remove(self, entry: Entry) -> None:
        if self.journal is not None and not entry.queue.dynamic:
            self.journal.remove(entry.seq)

    def dispatch(self, queue: Queue) -> None:
        """Send queued messages to consumers with credit, round robin."""
        entries, consumers = queue.entries, queue.consumers
        while entries and consumers:
            n = len(consumers)
            link = None
            for k in range(n):
                candidate = consumers[(queue.rr + k) % n]
                if candidate.credit > 0:
                    link = candidate
                    queue.rr = (queue.rr + k + 1) % n
                    break
            if link is None:
                return
            entry = entries.popleft()
            link.ia_tag += 1
            dlv = link.delivery(str(link.ia_tag))
            self.send(link, entry.data)
            mode = link.snd_settle_mode
            if mode == Link.SND_SETTLED or (self.b.presettle and mode == Link.SND_MIXED):
                dlv.settle()  # before the transfer is written: it goes out settled
                self.remove(entry)
            else:
                link.ia_unacked[dlv] = entry

    def send(self, link: Any, data: bytes) -> None:
        """One delivery: in several transfer frames when ``split`` says so (2.6.14)."""
        step = self.b.split
        if step and len(data) > step:
            transport = link.connection.transport
            pieces = [data[k : k + step] for k in range(0, len(data), step)]
            for piece in pieces[:-1]:
                link.send(piece)
                transport.pending()  # writes what is there as a transfer with more=true
            link.send(pieces[-1])
        else:
            link.send(data)
        link.advance()

    def requeue(self, queue: Queue, returned: list[Entry]) -> None:
        """Put unsettled deliveries back at the head of the queue, in their original order."""
        for entry in sorted(returned, key=lambda e: e.seq, reverse=True):
            queue.entries.appendleft(entry)

    # ---- endpoints

    @_guarded
    def on_connection_remote_open(self, event: Any) -> None:
        conn = event.connection
        if conn.state & Endpoint.LOCAL_UNINIT:
            conn.open()
        self.last_activity = time.monotonic()

    @_guarded
    def on_session_remote_open(self, event: Any) -> None:
        session = event.session
        if session.state & Endpoint.LOCAL_UNINIT:
            if self.b.session_window:
                frame = self.b.max_frame_size or 512
                session.incoming_capacity = self.b.session_window * frame
                session.outgoing_window = self.b.session_window
            session.open()

    @_guarded
    def on_link_remote_open(self, event: Any) -> None:
        link = event.link
        if not link.state & Endpoint.LOCAL_UNINIT:
            return
        if link.is_sender:
            self.attach_consumer(link)
        else:
            self.attach_producer(link)

    def dynamic_name(self) -> str:
        self.dynamic_counter += 1
        if self.b.odd_dynamic:  # legal, if unusual: any string is an address
            token = secrets.token_hex(16)
            return f"tmp://dynamic/ödd:{self.dynamic_counter}/{token}/名前/" + "x/" * 40 + token
        return f"dynamic.{self.dynamic_counter}-{secrets.token_hex(4)}"

    def attach_consumer(self, link: Any) -> None:
        """A link on which the broker sends: the client consumes from a queue."""
        source = link.remote_source
        link.target.address = link.remote_target.address
        link.snd_settle_mode = link.remote_snd_settle_mode
        link.ia_queue = None
        if source.dynamic:
            name = self.dynamic_name()
            queue = self.queues[name] = Queue(name, dynamic=True)
            link.source.address = name
        elif source.address:
            queue = self.queue(source.address)
            link.source.address = source.address
        else:
            link.open()
            link.condition = Condition("amqp:invalid-field", "a consumer needs a source address")
            link.close()
            return
        link.ia_queue = queue
        link.ia_unacked = {}
        link.ia_tag = 0
        queue.consumers.append(link)
        link.open()
        self.dispatch(queue)

    def attach_producer(self, link: Any) -> None:
        """A link on which the broker receives: a null target means anonymous relay."""
        target = link.remote_target
        if target.dynamic and self.b.dynamic_target != "answer":
            self.decline_dynamic_target(link)
            return
        if target.dynamic:
            address = self.dynamic_name()
            self.queues[address] = Queue(address, dynamic=True)
        else:
            address = target.address
        if address is None and not self.b.relay:
            link.open()
            link.condition = Condition(
                "amqp:not-implemented", "no ANONYMOUS-RELAY here: attach a link per address"
            )
            link.close()
            return
        link.target.address = address
        link.source.address = link.remote_source.address
        link.rcv_settle_mode = Link.RCV_FIRST
        link.ia_address = address
        link.open()
        link.flow(self.b.credit)

    def decline_dynamic_target(self, link: Any) -> None:
        """A broker without dynamic targets: refuse the attach, or leave it unanswered.

        The refusal is 2.6.3's (figure 2.33): an attach with a null target, then a
        detach that says why. Left alone, the link stays unattached on this side
        until the client gives up; its detach is answered then, as any detach is,
        with the same null target (no node was made).
        """
        link.target.type = Terminus.UNSPECIFIED  # encoded as a null target
        link.source.address = link.remote_source.address
        if self.b.dynamic_target == "ignore":
            log(f"attach of link {link.name!r} (dynamic target) left unanswered")
            return
        log(f"attach of link {link.name!r} (dynamic target) refused")
        link.open()
        link.condition = Condition("amqp:not-implemented", "dynamic targets are not supported")
        link.close()

    @_guarded
    def on_link_flow(self, event: Any) -> None:
        link = event.link
        if not link.is_sender:
            return
        queue = getattr(link, "ia_queue", None)
        if queue is not None:
            self.dispatch(queue)
        if link.drain_mode and link.credit > 0:
            link.drained()

    @_guarded
    def on_delivery(self, event: Any) -> None:
        dlv = event.delivery
        link = event.link  # the event's own: dlv.link would wrap the link once more
        if link.is_receiver:
            self.incoming(link, dlv)
        else:
            self.outcome(link, dlv)

    def incoming(self, link: Any, dlv: Any) -> None:
        if dlv.aborted:
            dlv.settle()
            return
        if not dlv.readable or dlv.partial:
            return  # wait for the whole message
        data = link.recv(dlv.pending)
        link.advance()
        window = self.b.credit
        if link.credit <= window // 2:  # window 1: one more credit after each transfer
            link.flow(window - link.credit)
        if not data:
            # A transfer without payload: proton clients re-send the deliveries left
            # unsettled by a lost connection this way after a reconnect. Nothing to store;
            # "released" tells the sender to send the message again (accepting it would
            # confirm a message the broker never had).
            self.empty_transfers += 1
            if self.empty_transfers in (1, 10, 100, 1000):
                log(f"released {self.empty_transfers} transfer(s) without payload so far")
            dlv.update(Delivery.RELEASED)
            dlv.settle()
            return
        address = link.ia_address
        if address is None:
            message = Message()
            message.decode(data)
            address = message.address
            if not address:
                dlv.local.condition = Condition(
                    "amqp:precondition-failed", "anonymous relay needs the message's 'to'"
                )
                dlv.update(Delivery.REJECTED)
                dlv.settle()
                return
        queue = self.queue(address)
        self.enqueue(queue, data)
        if self.b.batch_settle and not dlv.settled:
            self.settle_later(dlv)
        else:
            if not dlv.settled:
                dlv.update(Delivery.ACCEPTED)
            dlv.settle()
        self.dispatch(queue)

    def settle_later(self, dlv: Any) -> None:
        """batch_settle: accept in batches (ranged dispositions), the newer half first."""
        self.to_settle.append(dlv)
        if len(self.to_settle) >= self.b.batch_settle:
            self.settle_batch()
        elif not self.settle_timer:
            self.settle_timer = True
            self.container.schedule(0.02, _Later(self.settle_batch))

    def settle_batch(self) -> None:
        self.settle_timer = False
        batch, self.to_settle = self.to_settle, []
        half = len(batch) // 2
        for group in (batch[half:], batch[:half]):
            transports = set()
            for dlv in group:
                if dlv.link.state & Endpoint.LOCAL_CLOSED or dlv.settled:
                    continue
                dlv.update(Delivery.ACCEPTED)
                dlv.settle()
                transports.add(dlv.link.connection.transport)
            for transport in transports:
                if transport is not None:
                    transport.pending()  # this group's disposition before the next one

    def outcome(self, link: Any, dlv: Any) -> None:
        state = dlv.remote_state
        unacked = getattr(link, "ia_unacked", None)
        if unacked is None:
            dlv.settle()
            return
        if not state and not dlv.settled:
            return  # no outcome yet
        entry = unacked.pop(dlv, None)
        dlv.settle()
        if entry is None:
            return
        if state in (Delivery.RELEASED, Delivery.MODIFIED):
            self.requeue(entry.queue, [entry])
            self.dispatch(entry.queue)
        else:  # accepted, rejected, or settled without an outcome: consumed
            self.remove(entry)

    def detach(self, link: Any) -> None:
        """A consumer link is gone: its unsettled deliveries go back for redelivery."""
        if not link.is_sender:
            return
        queue = getattr(link, "ia_queue", None)
        if queue is None:
            return
        link.ia_queue = None
        if link in queue.consumers:
            queue.consumers.remove(link)
        returned = list(link.ia_unacked.values())
        link.ia_unacked = {}
        if queue.dynamic and not queue.consumers:
            if self.queues.get(queue.name) is queue:
                del self.queues[queue.name]
            return
        if returned:
            self.requeue(queue, returned)
        self.dispatch(queue)

    def release_connection(self, conn: Any) -> None:
        if conn is None or getattr(conn, "ia_released", False):
            return
        conn.ia_released = True
        self.connections = max(0, self.connections - 1)
        self.last_activity = time.monotonic()
        link = conn.link_head(0)
        while link:
            self.detach(link)
            link = link.next(0)

    @_guarded
    def on_link_remote_close(self, event: Any) -> None:
        link = event.link
        self.detach(link)
        if not link.state & Endpoint.LOCAL_CLOSED:
            link.close()

    @_guarded
    def on_session_remote_close(self, event: Any) -> None:
        session = event.session
        link = event.connection.link_head(0)
        while link:
            if link.session == session:
                self.detach(link)
            link = link.next(0)
        if not session.state & Endpoint.LOCAL_CLOSED:
            session.close()

    @_guarded
    def on_connection_remote_close(self, event: Any) -> None:
        conn = event.connection
        self.release_connection(conn)
        if not conn.state & Endpoint.LOCAL_CLOSED:
            conn.close()

    @_guarded
    def on_transport_error(self, event: Any) -> None:
        condition = event.transport.condition
        if condition is not None and condition.name != "amqp:connection:framing-error":
            log(f"transport error: {condition.name}: {condition.description}")

    @_guarded
    def on_transport_closed(self, event: Any) -> None:
        self.release_connection(event.connection)

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
        if self.journal is not None:
            self.journal.close()


# --------------------------------------------------------------------------- main


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(
            f"error: {message} (usage: broker.py [--host H] [--port P] [--store DIR])\n"
        )
        sys.exit(2)


def _behaviour_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--presettle", action="store_true", help="deliver pre-settled unless asked unsettled")
    add("--max-frame-size", type=int, default=0, help="advertised max-frame-size (>= 512)")
    add("--session-window", type=int, default=0, help="session windows, in frames")
    add("--split", type=int, default=0, help="send deliveries in frames of at most N bytes")
    add("--credit", type=int, default=CREDIT_WINDOW, help="credit granted to producers")
    add("--idle-timeout", type=float, default=0.0, help="advertised idle-time-out, seconds")
    add("--no-relay", action="store_true", help="offer no ANONYMOUS-RELAY")
    add("--batch-settle", type=int, default=0, help="accept in ranged dispositions of N")
    add("--odd-dynamic", action="store_true", help="long dynamic addresses with / : and non-ASCII")
    add("--sasl-plain", default=None, metavar="USER:PASSWORD", help="require SASL PLAIN")
    add(
        "--sasl-deadline",
        type=float,
        default=SASL_DEADLINE_S,
        help="seconds a client may take over its SASL handshake before it is dropped",
    )
    add(
        "--dynamic-target",
        choices=("answer", "refuse", "ignore"),
        default="answer",
        help="a sender's dynamic target: answer it, refuse it (2.6.3), or leave it unanswered",
    )


def _behaviour(parser: _Parser, opts: argparse.Namespace) -> Behaviour:
    if opts.max_frame_size and opts.max_frame_size < 512:
        parser.error("--max-frame-size must be at least 512 (MIN-MAX-FRAME-SIZE)")
    if opts.sasl_deadline <= 0:
        parser.error("--sasl-deadline must be > 0")
    if opts.credit < 1 or opts.split < 0 or opts.session_window < 0 or opts.batch_settle < 0:
        parser.error("--credit must be >= 1; --split, --session-window, --batch-settle >= 0")
    plain = None
    if opts.sasl_plain is not None:
        user, sep, password = opts.sasl_plain.partition(":")
        if not sep or not user:
            parser.error("--sasl-plain takes USER:PASSWORD")
        plain = (user, password)
    return Behaviour(
        presettle=opts.presettle,
        max_frame_size=opts.max_frame_size,
        session_window=opts.session_window,
        split=opts.split,
        credit=opts.credit,
        idle_timeout=opts.idle_timeout,
        relay=not opts.no_relay,
        batch_settle=opts.batch_settle,
        odd_dynamic=opts.odd_dynamic,
        plain=plain,
        dynamic_target=opts.dynamic_target,
        sasl_deadline=opts.sasl_deadline,
    )


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="broker.py", description="the amqp-interop embedded reference broker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--store", default=None, help="directory for the message journal")
    parser.add_argument(
        "--timeout-free",
        action="store_true",
        help=f"never exit on its own (default: exit after {IDLE_EXIT_S:g} s without connections)",
    )
    _behaviour_options(parser)
    opts = parser.parse_args(argv)
    if not 0 <= opts.port <= 65535:
        parser.error("--port must be 0..65535")
    behaviour = _behaviour(parser, opts)
    idle_exit = None if opts.timeout_free else IDLE_EXIT_S
    broker = Broker(opts.host, opts.port, opts.store, idle_exit, behaviour)

    def on_signal(signum: int, frame: Any) -> None:
        # Raising here leaves a blocking select at once. If the signal lands while Python
        # runs inside a cffi callback (proton's wrapper finalizers), the exception is
        # swallowed there; the flag makes the next reactor iteration raise it again.
        broker.stopping = True
        raise _Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    container = make_container(broker, "amqp://")  # the broker takes no amqps
    container.global_handler = _IOOnly(IOHandler())  # the broker dials no connections
    if not install_lazy_events(container, broker):  # every connection's handler is the broker
        log("this proton's events cannot be made lazy: running on its own (slower) events")
    container.container_id = CONTAINER_ID
    code = 0
    try:
        container.run()
    except _Stop:
        pass
    except OSError as exc:
        log(f"cannot listen on {opts.host}:{opts.port}: {exc}")
        code = 1
    finally:
        try:
            broker.stop()
        except Exception as exc:  # shutting down anyway
            log(f"while stopping: {exc}")
    log("stopped")
    return code


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
