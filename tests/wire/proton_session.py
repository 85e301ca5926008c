"""Record real proton conversations in memory: two Transports, no sockets.

Why: the decoder must understand what a real implementation writes, so the
tests run proton's own engine on both ends and keep the bytes each side sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proton import (
    SASL,
    Collector,
    Connection,
    Delivery,
    Endpoint,
    Message,
    Transport,
)

__all__ = ["Recorded", "record_session", "pump"]


@dataclass
class Recorded:
    """The bytes each side wrote, in order, and the chunks as proton produced them."""

    client: bytearray = field(default_factory=bytearray)
    server: bytearray = field(default_factory=bytearray)
    client_chunks: list[bytes] = field(default_factory=list)
    server_chunks: list[bytes] = field(default_factory=list)
    to_server: bytearray = field(default_factory=bytearray, repr=False)
    to_client: bytearray = field(default_factory=bytearray, repr=False)


def _move(
    src: Transport, dst: Transport, sink: bytearray, chunks: list[bytes], backlog: bytearray
) -> int:
    moved = 0
    while True:
        n = src.pending()
        if n > 0:
            data = src.peek(n)
            src.pop(n)
            sink += data
            chunks.append(bytes(data))
            backlog += data
            moved += n
        room = dst.capacity()
        if backlog and room > 0:
            k = min(room, len(backlog))
            dst.push(bytes(backlog[:k]))
            del backlog[:k]
            moved += k
            continue
        if n <= 0:
            return moved


def pump(client: Transport, server: Transport, rec: Recorded, rounds: int = 50) -> None:
    """Move bytes both ways until neither side has anything to say (bounded)."""
    for _ in range(rounds):
        a = _move(client, server, rec.client, rec.client_chunks, rec.to_server)
        b = _move(server, client, rec.server, rec.server_chunks, rec.to_client)
        if not a and not b:
            return


def _serve(conn: Connection, dynamic_address: str, credit: int) -> None:
    """The server side's reactions: open what the client opened, grant credit, accept."""
    if conn.state & Endpoint.LOCAL_UNINIT and conn.state & Endpoint.REMOTE_ACTIVE:
        conn.container = "server"
        conn.properties = {"product": "test-server"}
        conn.open()
    ssn = conn.session_head(Endpoint.LOCAL_UNINIT)
    while ssn:
        ssn.open()
        ssn = ssn.next(Endpoint.LOCAL_UNINIT)
    link = conn.link_head(Endpoint.LOCAL_UNINIT)
    while link:
        if link.is_sender:
            link.source.copy(link.remote_source)
            if link.remote_source.dynamic:
                link.source.address = dynamic_address
        else:
            link.target.copy(link.remote_target)
        link.open()
        if link.is_receiver:
            link.flow(credit)
        link = link.next(Endpoint.LOCAL_UNINIT)
    link = conn.link_head(Endpoint.REMOTE_ACTIVE)
    while link:
        if link.is_receiver:
            while link.current is not None and not link.current.partial:
                d = link.current
                link.recv(d.pending)
                link.advance()
                d.update(Delivery.ACCEPTED)
                d.settle()
        link = link.next(Endpoint.REMOTE_ACTIVE)
    # answer closes
    link = conn.link_head(Endpoint.LOCAL_ACTIVE | Endpoint.REMOTE_CLOSED)
    while link:
        link.close()
        link = link.next(Endpoint.LOCAL_ACTIVE | Endpoint.REMOTE_CLOSED)
    ssn = conn.session_head(Endpoint.LOCAL_ACTIVE | Endpoint.REMOTE_CLOSED)
    while ssn:
        ssn.close()
        ssn = ssn.next(Endpoint.LOCAL_ACTIVE | Endpoint.REMOTE_CLOSED)
    if conn.state == Endpoint.LOCAL_ACTIVE | Endpoint.REMOTE_CLOSED:
        conn.close()


def record_session(
    sasl: str | None = None,
    max_frame_size: int = 4096,
    big_body_size: int = 20000,
    heartbeat: bool = True,
) -> Recorded:
    """Run one full conversation and return what went over the wire.

    open, begin, attach (a sender, and a receiver with a dynamic source),
    flow, a small transfer and one bigger than the max frame size (so it is
    split), dispositions, an empty frame, detach, end, close. ``sasl`` is
    None (no SASL layer) or "ANONYMOUS".
    """
    rec = Recorded()
    c_conn, s_conn = Connection(), Connection()
    c_conn.collect(Collector())
    c_conn.container = "client"
    c_conn.hostname = "localhost"
    client, server = Transport(), Transport(Transport.SERVER)
    client.max_frame_size = max_frame_size
    server.max_frame_size = max_frame_size
    if heartbeat:
        server.idle_timeout = (
            2.0  # the server asks for traffic; the idle client answers with an empty frame
        )
    if sasl:
        cs = client.sasl()
        cs.allowed_mechs(sasl)
        ss = server.sasl()
        ss.allowed_mechs(sasl)
    client.bind(c_conn)
    server.bind(s_conn)

    c_conn.open()
    ssn = c_conn.session()
    ssn.open()
    snd = ssn.sender("sender-link")
    snd.target.address = "examples"
    snd.open()
    rcv = ssn.receiver("reply-link")
    rcv.source.dynamic = True
    rcv.target.address = None
    rcv.open()
    for _ in range(10):
        pump(client, server, rec)
        _serve(s_conn, "dynamic-1", credit=10)
    rcv.flow(5)

    small = Message(
        id=1,
        address="examples",
        reply_to="dynamic-1",
        correlation_id="c-1",
        subject="hi",
        body="Hello World!",
    )
    big = Message(id="big", body="x" * big_body_size)
    for i, msg in enumerate((small, big)):
        d = snd.delivery(f"tag-{i}".encode())
        snd.send(msg.encode())
        snd.advance()
        assert d is not None
    for _ in range(10):
        pump(client, server, rec)
        _serve(s_conn, "dynamic-1", credit=10)
    # the server answers on the dynamic reply link; the client accepts it
    reply_link = s_conn.link_head(Endpoint.LOCAL_ACTIVE)
    while reply_link and not reply_link.is_sender:
        reply_link = reply_link.next(Endpoint.LOCAL_ACTIVE)
    assert reply_link is not None and reply_link.credit > 0
    reply_link.delivery(b"r-0")
    reply_link.send(
        Message(correlation_id="c-1", address="dynamic-1", body="HELLO WORLD!").encode()
    )
    reply_link.advance()
    pump(client, server, rec)
    got = rcv.current
    assert got is not None and not got.partial
    rcv.recv(got.pending)
    rcv.advance()
    got.update(Delivery.ACCEPTED)
    got.settle()
    pump(client, server, rec)
    if heartbeat:
        client.tick(1000.0)
        client.tick(1001.5)  # idle for more than half the server's timeout: an empty frame
        pump(client, server, rec)
    snd.close()
    rcv.close()
    ssn.close()
    c_conn.close()
    for _ in range(10):
        pump(client, server, rec)
        _serve(s_conn, "dynamic-1", credit=10)
    pump(client, server, rec)
    return rec


def record_plain_client(user: str = "user", password: str = "secret") -> tuple[bytes, bytes]:
    """A proton client doing SASL PLAIN against a scripted server (our encoder).

    Proton's built-in SASL (no Cyrus) cannot *serve* PLAIN, so the server side
    is written with harness.wire.encode. Returns (client bytes, server bytes).
    """
    from harness.wire import encode_frame, encode_header

    conn = Connection()
    conn.container = "plain-client"
    conn.user = user
    conn.password = password
    client = Transport()
    sasl = client.sasl()
    sasl.allowed_mechs("PLAIN")
    sasl.allow_insecure_mechs = True
    client.bind(conn)
    conn.open()
    server_bytes = (
        encode_header(3)
        + encode_frame("sasl_mechanisms", {"sasl_server_mechanisms": ["PLAIN", "ANONYMOUS"]})
        + encode_frame("sasl_outcome", {"code": 0})
        + encode_header(0)
        + encode_frame("open", {"container_id": "scripted"})
    )
    out = bytearray()
    fed = 0
    for _ in range(20):
        n = client.pending()
        if n > 0:
            out += client.peek(n)
            client.pop(n)
        if fed < len(server_bytes) and client.capacity() > 0:
            k = min(client.capacity(), len(server_bytes) - fed)
            client.push(server_bytes[fed : fed + k])
            fed += k
        elif n <= 0:
            break
    return bytes(out), server_bytes


if __name__ == "__main__":  # pragma: no cover - manual look at a session
    from harness.wire import FrameDecoder

    r = record_session(sasl=SASL and "ANONYMOUS")
    for side, data in (("client", r.client), ("server", r.server)):
        for item in FrameDecoder().feed(bytes(data)):
            print(side, getattr(item, "name", ""), item.offset, getattr(item, "performative", item))
