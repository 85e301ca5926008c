"""Hand-made traces for the trace library's tests.

Building traces by hand (instead of recording them) keeps the tests fast and
lets each one show exactly the handshake a rule or pattern is about, including
broken ones that no real implementation would produce on demand.
"""

from __future__ import annotations

from typing import Any

from harness.trace.model import CONN, FRAME, HARNESS, HEADER, PEER, TraceEvent


class TraceBuilder:
    """Collects events on one clock; each new event is ``step`` seconds later."""

    def __init__(self, step: float = 0.001) -> None:
        self.events: list[TraceEvent] = []
        self.t = 0.0
        self.step = step
        self._conns = 0

    def add(self, **kw: Any) -> TraceEvent:
        self.t = round(self.t + self.step, 6)
        event = TraceEvent(t=self.t, **kw)
        self.events.append(event)
        return event

    def conn(self, client: str, server: str = "broker", *, accept: bool = True) -> ConnBuilder:
        self._conns += 1
        cb = ConnBuilder(self, f"c{self._conns}", client, server)
        if accept:
            self.add(kind=CONN, name="accept", conn=cb.name, src=client, dst=server)
        return cb

    def peer(self, label: str, name: str, /, **fields: Any) -> TraceEvent:
        return self.add(kind=PEER, name=name, src=label, fields=fields)

    def harness(self, name: str, /, **fields: Any) -> TraceEvent:
        return self.add(kind=HARNESS, name=name, fields=fields)


class ConnBuilder:
    """Frames of one connection; ``c(...)`` is client->server, ``s(...)`` server->client."""

    def __init__(self, tb: TraceBuilder, name: str, client: str, server: str) -> None:
        self.tb, self.name, self.client, self.server = tb, name, client, server

    def frame(self, src: str, perf: str, /, channel: int = 0, **fields: Any) -> TraceEvent:
        dst = self.server if src == self.client else self.client
        return self.tb.add(
            kind=FRAME, name=perf, conn=self.name, src=src, dst=dst, channel=channel, fields=fields
        )

    def c(self, perf: str, /, channel: int = 0, **fields: Any) -> TraceEvent:
        return self.frame(self.client, perf, channel, **fields)

    def s(self, perf: str, /, channel: int = 0, **fields: Any) -> TraceEvent:
        return self.frame(self.server, perf, channel, **fields)

    def headers(self) -> None:
        self.tb.add(kind=HEADER, name="amqp", conn=self.name, src=self.client, dst=self.server)
        self.tb.add(kind=HEADER, name="amqp", conn=self.name, src=self.server, dst=self.client)

    def open(self, container: str = "client-1") -> None:
        """Headers, open both ways, begin both ways on channel 0."""
        self.headers()
        self.c("open", container_id=container, hostname="127.0.0.1")
        self.s("open", container_id="broker-1", properties={"product": "embedded"})
        self.c("begin", next_outgoing_id=0, incoming_window=2048, outgoing_window=2048)
        self.s(
            "begin",
            remote_channel=0,
            next_outgoing_id=0,
            incoming_window=2048,
            outgoing_window=2048,
        )

    def close(self, first: str | None = None) -> None:
        """Close both ways, ``first`` side (default the client) first, then the TCP close."""
        first = first or self.client
        second = self.server if first == self.client else self.client
        self.frame(first, "close")
        self.frame(second, "close")
        self.tb.add(
            kind=CONN,
            name="close",
            conn=self.name,
            src=self.client,
            dst=self.server,
            fields={"by": first},
        )

    def cut(self, rule: str = "cut after transfer #3 from sender") -> None:
        self.tb.add(
            kind=CONN,
            name="cut",
            conn=self.name,
            src=self.client,
            dst=self.server,
            fields={"rule": rule},
        )

    def attach_pair(
        self,
        name: str,
        client_role: str,
        address: str | None = "examples",
        *,
        handle: int = 0,
        server_handle: int = 0,
        dynamic: bool = False,
        answer_address: str | None = None,
    ) -> None:
        """Client attaches (``client_role``), the server answers with the opposite role."""
        other = "receiver" if client_role == "sender" else "sender"
        term_key = "source" if client_role == "receiver" else "target"
        term: dict[str, Any] = {"address": None if dynamic else address}
        if dynamic:
            term["dynamic"] = True
        fields: dict[str, Any] = {
            "name": name,
            "handle": handle,
            "role": client_role,
            term_key: term,
        }
        if client_role == "sender":
            fields["initial_delivery_count"] = 0
        self.c("attach", **fields)
        answer: dict[str, Any] = {
            "name": name,
            "handle": server_handle,
            "role": other,
            term_key: {"address": answer_address if answer_address is not None else address},
        }
        if other == "sender":
            answer["initial_delivery_count"] = 0
        self.s("attach", **answer)

    def transfer(
        self,
        src: str,
        handle: int,
        delivery_id: int | None,
        msg_id: Any = None,
        body: Any = None,
        settled: bool = False,
        more: bool = False,
        **msg: Any,
    ) -> TraceEvent:
        fields: dict[str, Any] = {
            "handle": handle,
            "delivery_id": delivery_id,
            "delivery_tag": f"tag{delivery_id}",
            "settled": settled,
            "more": more,
        }
        if msg_id is not None or body is not None or msg:
            fields["message"] = {"id": msg_id, "body": body, **msg}
        return self.frame(src, "transfer", **fields)

    def accept(self, src: str, first: int, last: int | None = None) -> TraceEvent:
        return self.frame(
            src,
            "disposition",
            role="receiver",
            first=first,
            last=last,
            settled=True,
            state={"type": "accepted"},
        )


def hello_trace(answer_first: bool = True) -> list[TraceEvent]:
    """The tutorial's hello world through a broker, as a proton peer does it."""
    tb = TraceBuilder()
    c = tb.conn("hello")
    c.open()
    c.c("attach", name="recv", handle=0, role="receiver", source={"address": "examples"})
    if answer_first:
        c.s(
            "attach",
            name="recv",
            handle=0,
            role="sender",
            source={"address": "examples"},
            initial_delivery_count=0,
        )
    c.c(
        "flow",
        handle=0,
        delivery_count=0,
        link_credit=10,
        next_incoming_id=0,
        incoming_window=2048,
        next_outgoing_id=0,
        outgoing_window=2048,
    )
    tb.peer("hello", "link_opened", link="recv", role="receiver", address="examples")
    c.c(
        "attach",
        name="send",
        handle=1,
        role="sender",
        target={"address": "examples"},
        initial_delivery_count=0,
    )
    if not answer_first:
        c.s(
            "attach",
            name="recv",
            handle=0,
            role="sender",
            source={"address": "examples"},
            initial_delivery_count=0,
        )
    c.s("attach", name="send", handle=1, role="receiver", target={"address": "examples"})
    c.s(
        "flow",
        handle=1,
        delivery_count=0,
        link_credit=10,
        next_incoming_id=0,
        incoming_window=2048,
        next_outgoing_id=0,
        outgoing_window=2048,
    )
    tb.peer("hello", "sendable", link="send", credit=10)
    c.transfer("hello", 1, 0, msg_id=None, body="Hello World!")
    tb.peer("hello", "sent", body="Hello World!")
    c.accept("broker", 0)
    c.transfer("broker", 0, 0, body="Hello World!")
    c.accept("hello", 0)
    tb.peer("hello", "message", body="Hello World!")
    c.c("detach", handle=0, closed=True)
    c.c("detach", handle=1, closed=True)
    c.s("detach", handle=0, closed=True)
    c.s("detach", handle=1, closed=True)
    c.close()
    return tb.events


def at_least_once_trace(
    count: int = 5, cut_after: int = 3, resend: bool = True
) -> list[TraceEvent]:
    """simple_send through a broker: a cut after ``cut_after`` transfers (before their
    dispositions), then a reconnect that resends the unconfirmed ones (unless ``resend``
    is False)."""
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.open("sender-1")
    c.attach_pair("sender-examples", "sender")
    c.s("flow", handle=0, delivery_count=0, link_credit=10)
    confirmed = 0
    for i in range(1, cut_after + 1):
        c.transfer("sender", 0, i - 1, msg_id=i, body={"sequence": i})
    c.accept("broker", 0)  # only the first is confirmed before the cut
    confirmed = 1
    c.cut(f"cut after transfer #{cut_after} from sender")
    tb.peer("sender", "disconnected", reason="connection reset")
    c2 = tb.conn("sender")
    c2.open("sender-1")
    c2.attach_pair("sender-examples", "sender")
    c2.s("flow", handle=0, delivery_count=0, link_credit=10)
    ids = list(range(confirmed + 1, count + 1)) if resend else list(range(cut_after + 1, count + 1))
    for n, i in enumerate(ids):
        c2.transfer("sender", 0, n, msg_id=i, body={"sequence": i})
    c2.accept("broker", 0, len(ids) - 1)
    c2.c("detach", handle=0, closed=True)
    c2.s("detach", handle=0, closed=True)
    c2.close()
    return tb.events


def request_response_trace(answer_address: str = "dyn-7f3a") -> list[TraceEvent]:
    """A request client with a dynamic reply receiver through a broker."""
    tb = TraceBuilder()
    c = tb.conn("client")
    c.open("client-1")
    c.attach_pair("reply", "receiver", dynamic=True, answer_address=answer_address)
    c.c("flow", handle=0, delivery_count=0, link_credit=10)
    tb.peer("client", "link_opened", link="reply", role="receiver", address=answer_address)
    c.attach_pair("requests", "sender", "examples", handle=1, server_handle=1)
    c.s("flow", handle=1, delivery_count=0, link_credit=10)
    c.transfer(
        "client", 1, 0, msg_id="req-1", body="twas", reply_to=answer_address, correlation_id="req-1"
    )
    c.accept("broker", 0)
    c.transfer(
        "broker", 0, 0, msg_id="rep-1", body="TWAS", to=answer_address, correlation_id="req-1"
    )
    c.accept("client", 0)
    tb.peer("client", "message", body="TWAS", correlation_id="req-1", request="twas")
    c.c("detach", handle=0, closed=True)
    c.c("detach", handle=1, closed=True)
    c.s("detach", handle=0, closed=True)
    c.s("detach", handle=1, closed=True)
    c.close()
    return tb.events
