"""The contract's roles on pyamqp.

Each role has ``start(conn)`` (open its first links on a fresh connection),
``step(conn)`` (act on what the callbacks recorded; True once the role is
done), ``disconnected()``, ``result()``, ``waiting_for()`` and ``countless``.
pyamqp swallows exceptions raised inside its callbacks, so a callback only
records a failure and the next ``step`` raises it.
"""

from __future__ import annotations

import functools
import sys
from collections import deque
from typing import Any

from args import Fatal
from engine import (
    Accepted,
    Header,
    Message,
    Properties,
    Released,
    SenderSettleMode,
    Source,
    as_id,
    body_of,
    id_key,
    jsonable,
    message_fields,
    text,
)

HELLO = "Hello World!"


class Role:
    countless = False

    def __init__(self, peer: Any) -> None:
        self.peer, self.out, self.opts = peer, peer.out, peer.opts
        self.address = self.opts.address
        self.failure: str | None = None
        self.stage = ""

    def check(self) -> None:
        if self.failure:
            raise Fatal(self.failure)

    def disconnected(self) -> None:
        pass

    def waiting_for(self) -> str:
        return self.stage

    def ready(self) -> None:
        if not getattr(self, "_ready_printed", False):
            self._ready_printed = True
            self.out.line({"kind": "ready", "url": f"amqp://{self.opts.host_port}"})


class Send(Role):
    def __init__(self, peer: Any) -> None:
        super().__init__(peer)
        self.total = self.opts.count
        self.confirmed: set[int] = set()
        self.ever_sent: set[int] = set()
        self.sent = self.resent = 0
        self.queue: deque[int] = deque()
        self.link: Any = None

    def start(self, conn: Any) -> None:
        # the tutorial's simple_send: sent = confirmed; everything not confirmed goes again
        self.queue = deque(i for i in range(1, self.total + 1) if i not in self.confirmed)
        self.stage = f"the attach of the sender link to {self.address}"
        self.link = conn.sender(f"send-{self.address}", self.address)

    def step(self, conn: Any) -> bool:
        self.check()
        if len(self.confirmed) == self.total:
            return True
        budget = self.link.budget()
        while budget > 0 and self.queue:
            i = self.queue.popleft()
            if i in self.confirmed:
                continue
            message = Message(
                header=Header(durable=True),  # so a broker that persists keeps it
                properties=Properties(message_id=i),
                value={"sequence": i},
            )
            conn.send(self.link, message, functools.partial(self._settled, conn, i))
            self.sent += 1
            self.resent += i in self.ever_sent
            self.ever_sent.add(i)
            self.out.event("sent", id=i)
            budget -= 1
        if self.link.limit is not None:
            self.stage = (
                f"credit on the sender link to {self.address}"
                if self.queue
                else "accepted outcomes"
            )
        return False

    def _settled(self, conn: Any, i: int, reason: Any, state: Any) -> None:
        name = conn.outcome(reason, state, i)
        if name == "accepted":
            self.confirmed.add(i)
        elif name == "rejected":
            self.failure = f"message {i} rejected: {state}"
        elif name is not None:  # released, modified: not delivered, at-least-once sends it again
            self.queue.append(i)

    def result(self) -> dict[str, Any]:
        return {
            "count": self.total,
            "sent": self.sent,
            "confirmed": len(self.confirmed),
            "resent": self.resent,
            "reconnects": self.peer.reconnects,
        }

    def waiting_for(self) -> str:
        return f"{self.stage} (confirmed {len(self.confirmed)} of {self.total})"


class Receive(Role):
    def __init__(self, peer: Any) -> None:
        super().__init__(peer)
        self.total = self.opts.count
        self.countless = self.total == 0
        self.seen: set[str] = set()
        self.duplicates = 0
        self.finished = False
        self.link: Any = None

    def start(self, conn: Any) -> None:
        self.stage = f"the attach of the receiver link from {self.address}"
        # at-least-once: ask for unsettled deliveries, so nothing is settled on the way (2.7.3)
        self.link = conn.receiver(
            f"receive-{self.address}",
            self.address,
            self._message,
            lambda f: self._attached(),
            send_settle_mode=SenderSettleMode.Unsettled,
        )

    def _attached(self) -> None:
        of = f" of {self.total}" if self.total else ""
        self.stage = f"messages on {self.address} (received {{}}{of} distinct ids)"
        self.ready()

    def _message(self, frame: Any, message: Any) -> Any:
        if self.finished:
            return Released()
        key = id_key(message.properties.message_id if message.properties else None)
        duplicate = key in self.seen
        self.duplicates += duplicate
        self.seen.add(key)
        self.out.event("message", **message_fields(message), duplicate=duplicate)
        if self.total and len(self.seen) >= self.total:
            self.finished = True
        return Accepted()

    def step(self, conn: Any) -> bool:
        if self.finished:
            return True
        conn.refill(self.link)
        return False

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "count": self.total,
            "received": len(self.seen),
            "duplicates": self.duplicates,
        }
        if self.total:
            out["missing"] = [i for i in range(1, self.total + 1) if str(i) not in self.seen]
        out["reconnects"] = self.peer.reconnects
        return out

    def waiting_for(self) -> str:
        return self.stage.replace("{}", str(len(self.seen)))


class Serve(Role):
    def __init__(self, peer: Any) -> None:
        super().__init__(peer)
        self.total = self.opts.count
        self.countless = self.total == 0
        self.served = 0
        self.outstanding = 0
        self.replies: deque[tuple[str, Message]] = deque()
        self.senders: dict[str | None, Any] = {}
        self.relay = False
        self.link: Any = None

    def start(self, conn: Any) -> None:
        self.senders, self.outstanding = {}, 0
        self.stage = f"the attach of the request receiver from {self.address}"
        self.link = conn.receiver(
            f"serve-{self.address}", self.address, self._request, lambda f: self.ready()
        )
        self.relay = "ANONYMOUS-RELAY" in conn.conn.remote_capabilities
        if self.relay:  # replies go on one link with no target address
            self.senders[None] = conn.sender("serve-replies", None)

    def _request(self, frame: Any, message: Any) -> Any:
        self.out.event("message", **message_fields(message))
        props = message.properties
        reply_to = text(props.reply_to) if props else None
        if reply_to is None:
            print("serve: request without reply_to ignored", file=sys.stderr)
            return Accepted()
        correlation = props.correlation_id if props.correlation_id is not None else props.message_id
        body = str(jsonable(body_of(message))).upper()
        reply = Message(
            properties=Properties(to=reply_to, correlation_id=as_id(correlation)), value=body
        )
        self.replies.append((reply_to, reply))
        return Accepted()

    def step(self, conn: Any) -> bool:
        self.check()
        if self.total and self.served >= self.total and self.outstanding == 0:
            return True
        conn.refill(self.link)
        while self.replies:
            reply_to, reply = self.replies[0]
            key = None if self.relay else reply_to
            if key not in self.senders:
                self.senders[key] = conn.sender(f"serve-reply-{reply_to}", reply_to)
            sender = self.senders[key]
            if sender.budget() <= 0:
                self.stage = f"credit for a reply to {reply_to} (served {self.served})"
                return False
            self.replies.popleft()
            conn.send(sender, reply, functools.partial(self._settled, conn))
            self.served += 1
            self.outstanding += 1
            props = reply.properties
            self.out.event(
                "sent",
                id=None,
                body=reply.value,
                to=reply_to,
                correlation_id=jsonable(props.correlation_id),
            )
        self.stage = f"requests on {self.address} (served {self.served})"
        return False

    def _settled(self, conn: Any, reason: Any, state: Any) -> None:
        conn.outcome(reason, state, None)
        self.outstanding -= 1

    def result(self) -> dict[str, Any]:
        return {"served": self.served}


class Request(Role):
    def __init__(self, peer: Any) -> None:
        super().__init__(peer)
        self.requests: list[str] = list(self.opts.requests)
        self.answered: set[int] = set()
        self.reply_to: str | None = None
        self.replies: Any = None
        self.sender: Any = None
        self.to_send: deque[int] = deque()

    def start(self, conn: Any) -> None:
        self.sender, self.reply_to = None, None
        self.to_send = deque(i for i in range(len(self.requests)) if i not in self.answered)
        self.stage = "the attach of the dynamic reply receiver (its address)"
        # --dynamic-capability: the broker's own kind of node (RabbitMQ 4.2+: Direct Reply-To),
        # which lives as long as the link and delivers pre-settled (peers/CONTRACT.md)
        caps = [c.encode() for c in self.opts.dynamic_capabilities]
        source, extra = Source(address=None, dynamic=True), {}
        if caps:
            source = Source(
                address=None, dynamic=True, capabilities=caps, expiry_policy=b"link-detach"
            )
            extra = {"send_settle_mode": SenderSettleMode.Settled}
        self.replies = conn.receiver(
            "request-replies", source, self._reply, self._attached, **extra
        )

    def _attached(self, frame: Any) -> None:
        address = text(frame.source.address) if frame.source is not None else None
        if not address:
            self.failure = "the dynamic reply receiver was attached without an address"
        self.reply_to = address

    def step(self, conn: Any) -> bool:
        self.check()
        if len(self.answered) == len(self.requests):
            return True
        if self.reply_to and self.sender is None:
            self.stage = f"the attach of the request sender to {self.address}"
            self.sender = conn.sender(f"request-{self.address}", self.address)
        budget = self.sender.budget() if self.sender is not None else 0
        while budget > 0 and self.to_send:
            i = self.to_send.popleft()
            corr = f"request-{i + 1}"
            props = Properties(message_id=i + 1, correlation_id=corr, reply_to=self.reply_to)
            conn.send(
                self.sender,
                Message(properties=props, value=self.requests[i]),
                self._outcome(conn, i),
            )
            self.out.event("sent", id=i + 1, body=self.requests[i], correlation_id=corr)
            budget -= 1
        if self.sender is not None and self.sender.limit is not None:
            self.stage = (
                f"credit on the request sender to {self.address}"
                if self.to_send
                else f"replies ({len(self.answered)} of {len(self.requests)})"
            )
        return False

    def _outcome(self, conn: Any, i: int) -> Any:
        return lambda reason, state: conn.outcome(reason, state, i + 1)

    def _reply(self, frame: Any, message: Any) -> Any:
        fields = message_fields(message)
        corr = fields.get("correlation_id")
        index = next((i for i in range(len(self.requests)) if corr == f"request-{i + 1}"), None)
        if index is None:
            self.out.event("message", **fields)
            self.failure = f"reply with an unknown correlation_id: {corr!r}"
            return Accepted()
        self.out.event("message", **fields, request=self.requests[index])
        want, got = self.requests[index].upper(), fields["body"]
        if got != want:
            self.failure = f"reply to {self.requests[index]!r} was {got!r}, expected {want!r}"
        else:
            self.answered.add(index)
        return Accepted()

    def result(self) -> dict[str, Any]:
        return {
            "requests": len(self.requests),
            "replies": len(self.answered),
            "reply_to": self.reply_to,
        }


class Hello(Role):
    def __init__(self, peer: Any) -> None:
        super().__init__(peer)
        self.received: list[Any] = []
        self.receiver_up = False
        self.sender: Any = None
        self.sent = False

    def start(self, conn: Any) -> None:
        self.sender, self.sent, self.receiver_up = None, False, False
        self.stage = f"the attach of the receiver link from {self.address}"
        conn.receiver("hello-receiver", self.address, self._message, self._attached)

    def _attached(self, frame: Any) -> None:
        self.receiver_up = True

    def _message(self, frame: Any, message: Any) -> Any:
        if self.received:  # one message, as the tutorial: what else came in the batch goes back
            return Released()
        self.received.append(jsonable(body_of(message)))
        self.out.event("message", **message_fields(message))
        return Accepted()

    def step(self, conn: Any) -> bool:
        self.check()
        if self.received:
            return True
        if self.receiver_up and self.sender is None:  # only once the receiver is attached
            self.stage = f"the attach of the sender link to {self.address}"
            self.sender = conn.sender("hello-sender", self.address)
        if self.sender is not None and not self.sent and self.sender.budget() > 0:
            self.sent = True
            conn.send(self.sender, Message(value=HELLO), self._outcome(conn))
            self.out.event("sent", body=HELLO)
            self.stage = f"the message back from {self.address}"
        elif self.sender is not None and self.sender.limit is None:
            self.stage = f"credit on the sender link to {self.address}"
        return False

    def _outcome(self, conn: Any) -> Any:
        def settled(reason: Any, state: Any) -> None:
            if conn.outcome(reason, state, None) == "rejected":
                self.failure = "the hello message was rejected"

        return settled

    def result(self) -> dict[str, Any]:
        return {"received": list(self.received)}


ROLES = {"hello": Hello, "send": Send, "receive": Receive, "serve": Serve, "request": Request}
