"""The tap: a TCP proxy that records every AMQP frame in both directions.

Every implementation is traced the same way, from the wire, so the trace
does not depend on each library's debug log. The tap sits in front of one
upstream address on 127.0.0.1, port 0, forwards bytes unchanged, decodes
them with the sans-IO codec and hands one ``TraceEvent`` per frame to a
sink. Fault rules (``harness.wire.faults``) see each frame before it is
forwarded and may cut the connection, delay the frame or call the harness.

When a fault rule is set, decoding happens on the forwarding path, because a
rule must be able to act *before* a frame reaches the other side. Without
rules the pumps only keep the bytes with their arrival time and ``stop()``
decodes them afterwards, so tracing costs the forwarding path almost
nothing (see scripts/bench_tap.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.tap import ioloop, recording
from harness.trace.deliveries import DeliveryJoiner
from harness.trace.model import CONN, HARNESS, TraceEvent
from harness.wire.codec import DecodeError, Frame, FrameDecoder, ProtocolHeader
from harness.wire.faults import Call, Cut, Delay, FrameView, Rule

Sink = Callable[[TraceEvent], None]
CallHandler = Callable[[Call], None]

_READ_SIZE = 256 * 1024
#: a cell of this many messages or more has its taps decode while they forward (``live``):
#: its frames reach the trace's spool on disk as they pass (harness.trace.spool), not at the end
LIVE_DECODE_FROM = 10_000
_CONNECT_TIMEOUT = 5.0


class ConnCounter:
    """Connection names ("c1", "c2", ...) shared by every tap of one cell."""

    def __init__(self) -> None:
        self._it = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return f"c{next(self._it)}"


@dataclass
class _Conn:
    name: str
    client_w: asyncio.StreamWriter
    server_w: asyncio.StreamWriter | None = None
    closed: bool = False
    closed_by: str | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Tap:
    """A recording proxy for one endpoint pair (client label -> server label).

    ``start()`` binds 127.0.0.1 on a free port; peers connect to ``port``
    instead of the real server. ``stop()`` closes everything and returns the
    names of connections that were still open, which the runner reports.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        client: str,
        server: str,
        sink: Sink,
        clock: Callable[[], float],
        conns: ConnCounter | None = None,
        rules: list[Rule] | None = None,
        on_call: CallHandler | None = None,
        decode: bool = True,
        live: bool = False,
    ) -> None:
        self.upstream = upstream
        self.client = client
        self.server = server
        self.sink = sink
        # a delivery split over frames is recorded as one transfer with its frame count
        self._joiner = DeliveryJoiner(sink)
        self.clock = clock
        self.conns = conns or ConnCounter()
        self.rules = list(rules or [])
        self.on_call = on_call
        self.decode = decode
        # decode while forwarding even without fault rules: a long cell's frames then reach
        # the sink (and its spool on disk) as they pass, instead of waiting as raw bytes
        self.live = live
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._open: dict[str, _Conn] = {}
        #: set while no connection is open (the loop sets and clears it; any thread waits on it)
        self._idle = threading.Event()
        self._idle.set()
        # hold(): new connections wait (accepted, nothing read or forwarded) until release()
        self._held = False
        self._gate: asyncio.Event | None = None
        self._stopping = False
        self.connections = 0
        self.bytes_forwarded = 0
        # without fault rules nothing needs a decoded frame while bytes flow, so the
        # pumps only keep (time, bytes) per direction and stop() decodes afterwards:
        # the forwarding path stays a plain proxy (see scripts/bench_tap.py)
        self._recordings: list[tuple[str, str, str, list[tuple[float, bytes]]]] = []

    # -- control (called from any thread) ------------------------------------

    def start(self, timeout: float = 5.0) -> int:
        self.port = ioloop.run(self._start(), timeout)
        return self.port

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Stop listening and close every connection; returns those that were still open.

        Frames recorded without decoding are decoded here, in the caller's
        thread, each stamped with the time its bytes arrived.
        """
        try:
            still_open = ioloop.run(self._stop(), timeout)
        except TimeoutError:
            still_open = sorted(self._open)
        recordings, self._recordings = self._recordings, []
        for name, src, dst, chunks in recordings:
            recording.decode_recording(self._emit, name, src, dst, chunks)
            self._joiner.flush(name, src)  # a delivery cut off mid-way, as it stood
        self._joiner.flush()
        return still_open

    @property
    def open_connections(self) -> list[str]:
        return sorted(self._open)

    def hold(self) -> None:
        """Keep new connections waiting, unread and not forwarded, until ``release()``.

        Why: a sender may start while its consumer is still getting ready;
        its process start-up (an interpreter, a JVM) then overlaps the
        consumer's, and its connection reaches the server only once the
        consumer is ready. Nothing of it is recorded before then, so the
        trace reads as if it had connected at that moment.
        """
        self._held = True

    def release(self) -> None:
        """Let held and later connections through (any thread)."""
        self._held = False
        loop = ioloop.get_loop()
        loop.call_soon_threadsafe(self._open_gate)

    def _open_gate(self) -> None:
        if self._gate is not None:
            self._gate.set()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no connection is open (each has seen its end); True if so within ``timeout``.

        After its peers have exited, a tap still has their last bytes to read
        before it sees the end of each connection: waiting for that, rather
        than for a fixed while, keeps every frame they sent.
        """
        return self._idle.wait(max(0.0, timeout))

    # -- loop side ---------------------------------------------------------

    async def _start(self) -> int:
        self._gate = asyncio.Event()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=_READ_SIZE)
        return self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> list[str]:
        self._stopping = True
        self._open_gate()  # held connections end without being forwarded
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        still_open = sorted(self._open)
        for c in list(self._open.values()):
            self._close(c, by=None, event=False)
            for t in c.tasks:
                t.cancel()
        for name in still_open:
            self._emit(CONN, "close", conn=name, fields={"by": "tap-stop"})
        self._open.clear()
        self._idle.set()
        return still_open

    def _emit(self, kind: str, name: str, t: float | None = None, **kw: object) -> None:
        when = self.clock() if t is None else t
        self._joiner.add(TraceEvent(t=when, kind=kind, name=name, **kw))  # type: ignore[arg-type]

    async def _accept(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        if self._held and self._gate is not None:
            await self._gate.wait()
        if self._stopping:
            with contextlib.suppress(Exception):
                cw.close()
            return
        name = self.conns.next()
        self.connections += 1
        conn = _Conn(name=name, client_w=cw)
        self._open[name] = conn
        self._idle.clear()
        self._emit(CONN, "accept", conn=name, src=self.client, dst=self.server)
        try:
            sr, sw = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream, limit=_READ_SIZE), _CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as e:
            reason = getattr(e, "strerror", None) or type(e).__name__
            self._emit(
                CONN,
                "refused",
                conn=name,
                src=self.client,
                dst=self.server,
                fields={"upstream": f"{self.upstream[0]}:{self.upstream[1]}", "reason": reason},
            )
            self._close(conn, by=self.server, event=True)
            return
        conn.server_w = sw
        self._emit(CONN, "connect", conn=name, src=self.client, dst=self.server)
        up = asyncio.ensure_future(self._pump(conn, cr, sw, self.client, self.server))
        down = asyncio.ensure_future(self._pump(conn, sr, cw, self.server, self.client))
        conn.tasks = [up, down]
        await asyncio.gather(up, down, return_exceptions=True)
        self._close(conn, by=conn.closed_by, event=True)

    def _close(self, conn: _Conn, by: str | None, event: bool) -> None:
        if conn.closed:
            return
        conn.closed = True
        for w in (conn.client_w, conn.server_w):
            if w is not None:
                with contextlib.suppress(Exception):
                    w.close()
        self._open.pop(conn.name, None)
        if not self._open:
            self._idle.set()
        if event:
            self._emit(
                CONN,
                "close",
                conn=conn.name,
                src=self.client,
                dst=self.server,
                fields={"by": by or "unknown"},
            )
        for t in conn.tasks:
            if t is not asyncio.current_task():
                t.cancel()

    async def _pump(
        self,
        conn: _Conn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        src: str,
        dst: str,
    ) -> None:
        decoder: FrameDecoder | None = None
        chunks: list[tuple[float, bytes]] | None = None
        if self.decode and (self.rules or self.live):
            decoder = FrameDecoder()
        elif self.decode:
            chunks = []
            self._recordings.append((conn.name, src, dst, chunks))
        try:
            while not conn.closed:
                data = await reader.read(_READ_SIZE)
                if not data:
                    # EOF from src: close both sides, as a direct TCP peer would see it.
                    # (Passing on a half-close leaves some clients waiting forever when
                    # the broker process dies.) Buffered bytes are still flushed.
                    if conn.closed_by is None:
                        conn.closed_by = src
                    self._close(conn, by=src, event=True)
                    return
                if decoder is None:
                    if chunks is not None:
                        chunks.append((self.clock(), data))
                    writer.write(data)
                    self.bytes_forwarded += len(data)
                    await writer.drain()
                    continue
                base = decoder.offset
                try:
                    items = decoder.feed(data)
                except DecodeError as e:
                    recording.decode_error(self._emit, conn.name, src, dst, e)
                    decoder = None  # stay transparent: forward the rest undecoded
                    items = e.items  # what came before the bad item is still recorded
                sent = 0  # bytes of ``data`` already forwarded
                for item in items:
                    action = self._record(conn, item, src, dst)
                    if action is None:
                        continue
                    start = item.offset - base
                    end = start + (item.size if isinstance(item, Frame) else 8)
                    if isinstance(action, Cut):
                        upto = start if action.before else end
                        if upto > sent:
                            writer.write(data[sent:upto])
                            with contextlib.suppress(Exception):
                                await writer.drain()
                        self._emit(
                            CONN,
                            "cut",
                            conn=conn.name,
                            src=src,
                            dst=dst,
                            fields={"rule": action.reason},
                        )
                        conn.closed_by = "tap"
                        self._close(conn, by="tap", event=False)
                        return
                    if isinstance(action, Delay):
                        if start > sent:
                            writer.write(data[sent:start])
                            await writer.drain()
                            sent = start
                        self._emit(
                            HARNESS,
                            "fault",
                            conn=conn.name,
                            src=src,
                            dst=dst,
                            fields={"rule": action.reason},
                        )
                        await asyncio.sleep(action.seconds)
                    elif isinstance(action, Call):
                        self._emit(
                            HARNESS,
                            "fault",
                            conn=conn.name,
                            src=src,
                            dst=dst,
                            fields={"rule": action.reason},
                        )
                        if self.on_call is not None:
                            self.on_call(action)
                if sent < len(data):
                    writer.write(data[sent:])
                self.bytes_forwarded += len(data)
                await writer.drain()
        except (ConnectionError, OSError):
            # a reset on either socket ends the whole connection, like EOF does
            if conn.closed_by is None:
                conn.closed_by = src
            self._close(conn, by=conn.closed_by, event=True)
        except asyncio.CancelledError:
            pass
        finally:
            if decoder is not None and not conn.closed:
                try:
                    decoder.eof()
                except DecodeError as e:
                    recording.decode_error(self._emit, conn.name, src, dst, e)

    def _record(self, conn: _Conn, item: Frame | ProtocolHeader, src: str, dst: str):
        """Record one decoded item now and ask the fault rules what to do about it."""
        fields = recording.record_item(self._emit, conn.name, item, src, dst, None)
        if fields is None or not self.rules:
            return None
        view = FrameView(conn=conn.name, src=src, dst=dst, name=item.name, fields=fields)
        for rule in self.rules:
            action = rule.on_frame(view)
            if action is not None:
                return action
        return None
