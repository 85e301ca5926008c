"""The tap through real sockets: transparent forwarding, recording, and faults.

Why: the tap sits between every pair of endpoints of every cell, so a byte
it changes or loses shows up as an interop failure of some implementation;
a frame it mislabels makes a trace assertion wrong; and a fault that fires
at the wrong point tests a different story than the scenario tells. Servers
here are small loopback threads (an echo, a sink that decodes what it got)
or the real embedded broker.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import pytest
from proton import Message
from proton.utils import BlockingConnection

from harness.tap import Tap
from harness.trace.model import CONN, FRAME, HARNESS, HEADER, TraceEvent
from harness.wire.codec import Frame, FrameDecoder
from harness.wire.encode import encode_frame, encode_header
from harness.wire.faults import Call, CutAfter, CutBeforeSettle, DelayFrames, RestartAfter, Rule

# -- helpers ---------------------------------------------------------------------


class Server:
    """A loopback TCP server on a thread: ``echo`` sends back what it reads, ``sink`` only keeps it.

    ``received`` holds the bytes of each accepted connection, ``arrivals`` the
    (monotonic time, chunk) pairs, so a test can say what reached the server side.
    """

    def __init__(self, mode: str = "echo") -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytearray] = []
        self.ended: list[threading.Event] = []  # per connection: the server saw EOF or reset
        self.arrivals: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)
            buf = bytearray()
            ended = threading.Event()
            self.received.append(buf)
            self.ended.append(ended)
            t = threading.Thread(target=self._serve, args=(conn, buf, ended), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket, buf: bytearray, ended: threading.Event) -> None:
        conn.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            buf += data
            self.arrivals.append((time.monotonic(), data))
            if self.mode == "echo":
                try:
                    conn.sendall(data)
                except OSError:
                    break
        ended.set()

    def wait_ended(self, index: int, timeout: float = 5.0) -> None:
        """Wait until connection ``index`` exists and has ended on the server side."""
        deadline = time.monotonic() + timeout
        while len(self.ended) <= index:
            assert time.monotonic() < deadline, f"no connection #{index} at the server"
            time.sleep(0.01)
        assert self.ended[index].wait(max(0.0, deadline - time.monotonic())), "still open"

    def frames(self, index: int = 0) -> list[Any]:
        """What connection ``index`` received, decoded."""
        return FrameDecoder().feed(bytes(self.received[index]))

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for c in self._conns:
            c.close()
        for t in self._threads:
            t.join(timeout=2)


class Recorder:
    """The tap's sink: every TraceEvent, thread-safe, with small queries."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self._lock = threading.Lock()

    def __call__(self, ev: TraceEvent) -> None:
        with self._lock:
            self.events.append(ev)

    def of(self, kind: str, name: str | None = None) -> list[TraceEvent]:
        with self._lock:
            return [e for e in self.events if e.kind == kind and (name is None or e.name == name)]

    def wait_for(self, kind: str, name: str, timeout: float = 5.0) -> TraceEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.of(kind, name)
            if got:
                return got[0]
            time.sleep(0.01)
        raise AssertionError(f"no {kind} {name} event within {timeout} s: {self.events}")


def start_tap(
    taps: list[Tap],
    port: int,
    rec: Recorder,
    rules: list[Rule] | None = None,
    decode: bool = True,
    on_call: Any = None,
    client: str = "client",
    server: str = "server",
) -> Tap:
    t0 = time.monotonic()
    tap = Tap(
        ("127.0.0.1", port),
        client=client,
        server=server,
        sink=rec,
        clock=lambda: time.monotonic() - t0,
        rules=rules,
        decode=decode,
        on_call=on_call,
    )
    tap.start()
    taps.append(tap)
    return tap


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    return s


def read_exactly(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def read_until_closed(s: socket.socket) -> bytes:
    """Everything until EOF or a reset (the tap's cut); a timeout fails the test."""
    buf = bytearray()
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return bytes(buf)
        if not chunk:
            return bytes(buf)
        buf += chunk


def opening(container: str = "client") -> bytes:
    """Header, open, begin, attach of a sending link: what a sender writes first."""
    return (
        encode_header()
        + encode_frame("open", {"container_id": container})
        + encode_frame(
            "begin", {"next_outgoing_id": 0, "incoming_window": 100, "outgoing_window": 100}
        )
        + encode_frame(
            "attach",
            {"name": "L", "handle": 0, "role": "sender", "target": {"address": "q"}},
        )
    )


def transfer(i: int, more: bool = False) -> bytes:
    fields: dict[str, Any] = {"handle": 0, "delivery_id": i, "delivery_tag": bytes([i])}
    if more:
        fields["more"] = True
    return encode_frame("transfer", fields, payload=b"\x00Sw\xa1\x01" + bytes([65 + i % 26]))


def disposition(first: int, last: int | None = None) -> bytes:
    fields: dict[str, Any] = {"role": "receiver", "first": first, "settled": True}
    if last is not None:
        fields["last"] = last
    fields["state"] = {"type": "accepted"}
    return encode_frame("disposition", fields)


# -- forwarding ----------------------------------------------------------------------


def test_random_bytes_pass_unchanged_both_ways(servers, taps) -> None:
    """With decoding off the tap is a plain proxy: 1 MiB of random bytes there and back."""
    server = Server("echo")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(taps, server.port, rec, decode=False)
    payload = os.urandom(1024 * 1024)
    with connect(tap.port) as s:
        writer = threading.Thread(target=s.sendall, args=(payload,), daemon=True)
        writer.start()
        back = read_exactly(s, len(payload))
        writer.join(timeout=5)
    assert back == payload
    assert bytes(server.received[0]) == payload
    rec.wait_for(CONN, "close")
    assert [e.name for e in rec.of(CONN)] == ["accept", "connect", "close"]
    assert rec.of(CONN, "accept")[0].src == "client"
    assert rec.of(CONN, "accept")[0].dst == "server"
    assert rec.of(CONN, "close")[0].fields == {"by": "client"}
    assert tap.bytes_forwarded == 2 * len(payload)
    assert tap.connections == 1
    assert rec.of(FRAME) == [] and rec.of(HARNESS) == []


#: decoding happens live when a fault rule needs frames, else at stop(); both must record alike
MODES = pytest.mark.parametrize(
    "rules",
    [pytest.param(lambda: [], id="deferred"), pytest.param(lambda: [NEVER()], id="live")],
)


def NEVER() -> Rule:  # noqa: N802 - reads as a constant
    """A rule that never fires: it only switches the tap to live decoding."""
    return CutAfter("transfer", 10**9, "nobody")


@MODES
def test_proton_conversation_through_the_tap_is_recorded(taps, embedded_broker, rules) -> None:
    """A real client and broker talk through the tap (decode on) as if it were not there."""
    rec = Recorder()
    tap = start_tap(
        taps, embedded_broker.port, rec, rules=rules(), client="client", server="broker"
    )
    address = f"tap-test-{os.getpid()}-{time.monotonic_ns()}"
    conn = BlockingConnection(f"amqp://127.0.0.1:{tap.port}", timeout=5)
    try:
        sender = conn.create_sender(address)
        sender.send(Message(id=7, body="through the tap"))
        receiver = conn.create_receiver(address)
        msg = receiver.receive(timeout=5)
        receiver.accept()
        assert msg.body == "through the tap"
        assert msg.id == 7
    finally:
        conn.close()
    rec.wait_for(CONN, "close")
    assert tap.stop() == []

    headers = rec.of(HEADER)
    by_side = {(h.src, h.name) for h in headers}
    assert ("client", "amqp") in by_side and ("broker", "amqp") in by_side
    assert all(h.fields["version"] == "1.0.0" for h in headers)
    assert all(h.conn == "c1" for h in headers)

    frames = [e for e in rec.of(FRAME) if e.name != "empty"]
    names_from_client = [f.name for f in frames if f.src == "client"]
    names_from_broker = [f.name for f in frames if f.src == "broker"]
    for name in ("open", "begin", "attach", "transfer", "flow", "disposition", "close"):
        assert name in names_from_client + names_from_broker, name
    assert names_from_client[0] in ("open", "sasl_init")
    assert names_from_client[-1] == "close" and names_from_broker[-1] == "close"
    for f in frames:
        assert f.conn == "c1"
        assert {f.src, f.dst} == {"client", "broker"}
        assert isinstance(f.channel, int)
    opened = next(f for f in frames if f.name == "open" and f.src == "broker")
    assert opened.fields["container_id"]
    attaches = [f for f in frames if f.name == "attach" and f.src == "client"]
    assert {a.fields["role"] for a in attaches} == {"sender", "receiver"}
    sent = next(f for f in frames if f.name == "transfer" and f.src == "client")
    assert sent.fields["message"]["body"] == "through the tap"
    assert sent.fields["message"]["id"] == 7
    assert sent.fields["payload_size"] > 0
    assert sent.fields["delivery_id"] == 0
    got = next(f for f in frames if f.name == "transfer" and f.src == "broker")
    assert got.fields["message"]["body"] == "through the tap"
    # frames are stamped on one clock, in order within each direction
    for side in ("client", "broker"):
        times = [e.t for e in rec.events if e.kind == FRAME and e.src == side]
        assert times == sorted(times)
    accept = rec.of(CONN, "accept")[0].t
    close = rec.of(CONN, "close")[0].t
    assert all(accept <= f.t <= close for f in frames)
    assert rec.of(HARNESS) == []


def test_stop_reports_connections_still_open(servers, taps) -> None:
    server = Server("sink")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(taps, server.port, rec)
    with connect(tap.port) as s1, connect(tap.port) as s2:
        rec.wait_for(CONN, "connect")
        deadline = time.monotonic() + 5
        while len(tap.open_connections) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert tap.open_connections == ["c1", "c2"]
        assert tap.stop() == ["c1", "c2"]
        taps.remove(tap)
        assert read_until_closed(s1) == b"" and read_until_closed(s2) == b""
    closes = rec.of(CONN, "close")
    assert sorted(e.conn for e in closes) == ["c1", "c2"]
    assert all(e.fields["by"] == "tap-stop" for e in closes)
    # the listener is gone too
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", tap.port), timeout=1).close()


def test_stop_after_clean_close_reports_nothing(servers, taps) -> None:
    server = Server("echo")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(taps, server.port, rec)
    with connect(tap.port) as s:
        s.sendall(encode_header())
        assert read_exactly(s, 8) == encode_header()
    rec.wait_for(CONN, "close")
    assert tap.stop() == []
    taps.remove(tap)


def test_wait_idle_returns_once_every_connection_has_ended(servers, taps) -> None:
    """Teardown waits on this instead of a fixed sleep, so a peer's last bytes are never lost."""
    server = Server("echo")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(taps, server.port, rec)
    assert tap.wait_idle(0) is True  # nothing connected yet
    with connect(tap.port) as s:
        s.sendall(encode_header())
        assert read_exactly(s, 8) == encode_header()
        assert tap.wait_idle(0.2) is False  # the connection is open
    assert tap.wait_idle(5) is True
    assert tap.open_connections == []
    assert tap.stop() == []
    taps.remove(tap)
    headers = [e for e in rec.events if e.kind == HEADER and e.src == "client"]
    assert headers, "the bytes read before the end were recorded"


def test_a_held_tap_forwards_nothing_until_released(servers, taps) -> None:
    """A sender starts while its consumer gets ready; its bytes wait in the tap, unrecorded."""
    server = Server("echo")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(taps, server.port, rec)
    tap.hold()
    with connect(tap.port) as s:
        s.sendall(encode_header())
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(8)
        assert rec.of(CONN) == [] and tap.open_connections == []
        tap.release()
        s.settimeout(5)
        assert read_exactly(s, 8) == encode_header()
    rec.wait_for(CONN, "close")
    assert [e.name for e in rec.of(CONN)][:2] == ["accept", "connect"]


def test_stop_ends_a_held_connection_without_forwarding_it(servers, taps) -> None:
    server = Server("echo")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(taps, server.port, rec)
    tap.hold()
    with connect(tap.port) as s:
        s.sendall(encode_header())
        time.sleep(0.1)
        assert tap.stop() == []
        taps.remove(tap)
        assert read_until_closed(s) == b""
    assert rec.of(CONN) == []


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_upstream_refused_gives_event_and_eof(taps) -> None:
    rec = Recorder()
    port = _closed_port()
    tap = start_tap(taps, port, rec)
    with connect(tap.port) as s:
        s.sendall(encode_header())
        assert read_until_closed(s) == b""
    refused = rec.wait_for(CONN, "refused")
    assert refused.conn == "c1"
    assert refused.src == "client" and refused.dst == "server"
    assert refused.fields["upstream"] == f"127.0.0.1:{port}"
    assert refused.fields["reason"]
    close = rec.wait_for(CONN, "close")
    assert close.fields["by"] == "server"
    assert tap.open_connections == []


@MODES
def test_malformed_bytes_give_decode_error_and_are_still_forwarded(servers, taps, rules) -> None:
    server = Server("echo")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(taps, server.port, rec, rules=rules())
    good = encode_header() + encode_frame("open", {"container_id": "x"})
    bad = b"\x00\x00\x00\x04\x02\x00\x00\x00"  # a frame of size 4: below the minimum of 8
    tail = b"more bytes after the bad frame"
    data = good + bad + tail
    with connect(tap.port) as s:
        s.sendall(data)
        assert read_exactly(s, len(data)) == data
    assert bytes(server.received[0]) == data
    rec.wait_for(CONN, "close")
    tap.stop()
    errors = rec.of(HARNESS, "decode-error")
    from_client = [e for e in errors if e.src == "client"]
    assert len(from_client) == 1
    err = from_client[0]
    assert err.conn == "c1" and err.dst == "server"
    assert err.fields["offset"] == len(good)
    assert err.fields["reason"]
    # what came before the bad frame in the same chunk is still recorded
    assert [e.name for e in rec.of(HEADER) if e.src == "client"] == ["amqp"]
    assert [e.name for e in rec.of(FRAME) if e.src == "client"] == ["open"]


# -- faults --------------------------------------------------------------------------


def test_cut_after_kth_transfer(servers, taps) -> None:
    server = Server("sink")
    servers.append(server)
    rec = Recorder()
    rule = CutAfter("transfer", 3, "client")
    tap = start_tap(taps, server.port, rec, rules=[rule])
    stream = opening() + b"".join(transfer(i) for i in range(6))
    with connect(tap.port) as s:
        s.sendall(stream)
        assert read_until_closed(s) == b""  # the client sees the connection drop
    server.wait_ended(0)
    got = server.frames()
    transfers = [f for f in got if isinstance(f, Frame) and f.name == "transfer"]
    assert [t.performative.fields["delivery_id"] for t in transfers] == [0, 1, 2]
    cut = rec.wait_for(CONN, "cut")
    assert cut.conn == "c1" and cut.src == "client" and cut.dst == "server"
    assert cut.fields["rule"] == "cut after transfer #3 from client"
    assert rule.fired == 1
    assert tap.open_connections == []


def test_cut_after_counts_across_reconnects(servers, taps) -> None:
    server = Server("sink")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(taps, server.port, rec, rules=[CutAfter("transfer", 4, "client")])
    with connect(tap.port) as s:
        s.sendall(opening() + transfer(0) + transfer(1))
        deadline = time.monotonic() + 5
        while len(server.received) < 1 or len(server.received[0]) < len(opening()):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    with connect(tap.port) as s:
        s.sendall(opening() + b"".join(transfer(i) for i in range(2, 6)))
        assert read_until_closed(s) == b""
    cut = rec.wait_for(CONN, "cut")
    assert cut.conn == "c2"
    server.wait_ended(1)
    second = [f for f in FrameDecoder().feed(bytes(server.received[1])) if f.name == "transfer"]
    assert len(second) == 2  # 2 on c1 + 2 on c2 = the 4th


def test_cut_before_settle_withholds_the_disposition(servers, taps) -> None:
    server = Server("sink")
    servers.append(server)
    rec = Recorder()
    tap = start_tap(
        taps,
        server.port,
        rec,
        rules=[CutBeforeSettle(3, "receiver")],
        client="receiver",
        server="broker",
    )
    stream = opening() + disposition(0, 1) + disposition(2) + disposition(3)
    with connect(tap.port) as s:
        s.sendall(stream)
        assert read_until_closed(s) == b""
    server.wait_ended(0)
    dispositions = [f for f in server.frames() if f.name == "disposition"]
    assert [
        (d.performative.fields["first"], d.performative.fields["last"]) for d in dispositions
    ] == [(0, 1)]
    cut = rec.wait_for(CONN, "cut")
    assert cut.fields["rule"] == "cut before the disposition of delivery #3 from receiver"
    # the withheld disposition is in the trace (the tap saw it) but never reached the broker
    recorded = [e for e in rec.of(FRAME, "disposition")]
    assert len(recorded) == 2


def test_delay_frames_holds_the_frame(servers, taps) -> None:
    server = Server("sink")
    servers.append(server)
    rec = Recorder()
    delay = 0.5
    tap = start_tap(taps, server.port, rec, rules=[DelayFrames("begin", delay, src="client")])
    head = encode_header() + encode_frame("open", {"container_id": "client"})
    with connect(tap.port) as s:
        t0 = time.monotonic()
        s.sendall(opening())
        deadline = time.monotonic() + 5
        while sum(len(b) for b in server.received) < len(opening()):
            assert time.monotonic() < deadline, "the delayed bytes never arrived"
            time.sleep(0.005)
    # the bytes before the begin went through at once; the begin came after the delay
    first_t, first = server.arrivals[0]
    assert first_t - t0 < delay
    assert first.startswith(head)
    got = bytearray()
    begin_t = None
    for t, chunk in server.arrivals:
        got += chunk
        if begin_t is None and len(got) > len(head):
            begin_t = t
    assert begin_t is not None
    assert delay <= begin_t - t0 < delay + 2.0
    fault = rec.wait_for(HARNESS, "fault")
    assert fault.fields["rule"] == "delay begin from client by 0.5 s (x1)"


def test_call_action_reaches_on_call(servers, taps) -> None:
    server = Server("sink")
    servers.append(server)
    rec = Recorder()
    calls: list[Call] = []
    called = threading.Event()

    def on_call(action: Call) -> None:
        calls.append(action)
        called.set()

    tap = start_tap(taps, server.port, rec, rules=[RestartAfter(2, "client")], on_call=on_call)
    stream = opening() + b"".join(transfer(i) for i in range(4))
    with connect(tap.port) as s:
        s.sendall(stream)
        assert called.wait(5)
        deadline = time.monotonic() + 5
        while sum(len(b) for b in server.received) < len(stream):
            assert time.monotonic() < deadline, "forwarding stopped after the call"
            time.sleep(0.01)
    assert calls == [Call("restart-broker", "restart the broker after transfer #2 from client")]
    assert bytes(server.received[0]) == stream
    assert rec.wait_for(HARNESS, "fault").fields["rule"] == calls[0].reason


def test_cut_after_with_a_real_sender_and_broker(taps, embedded_broker) -> None:
    """proton sends 5 through a tap that cuts after the 3rd: exactly 3 reach the broker."""
    rec = Recorder()
    tap = start_tap(
        taps,
        embedded_broker.port,
        rec,
        rules=[CutAfter("transfer", 3, "sender")],
        client="sender",
        server="broker",
    )
    address = f"tap-cut-{os.getpid()}-{time.monotonic_ns()}"
    conn = BlockingConnection(f"amqp://127.0.0.1:{tap.port}", timeout=5)
    sent = 0
    try:
        sender = conn.create_sender(address)
        with pytest.raises(Exception):  # noqa: B017 - proton raises one of several on a cut
            for i in range(5):
                sender.send(Message(id=i, body=f"m{i}"))
                sent += 1
    finally:
        try:
            conn.close()
        except Exception:
            pass
    assert sent == 2  # the 3rd send never gets its disposition back
    rec.wait_for(CONN, "cut")
    direct = BlockingConnection(embedded_broker.url(), timeout=5)
    try:
        receiver = direct.create_receiver(address)
        bodies = []
        while True:
            try:
                bodies.append(receiver.receive(timeout=1).body)
            except Exception:
                break
            receiver.accept()
    finally:
        direct.close()
    assert bodies == ["m0", "m1", "m2"]
