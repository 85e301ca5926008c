"""Request/response (tutorial: server.py, client.py) with a dynamic reply-to address.

The client attaches a receiver with a dynamic source and waits for the
broker's answer, which carries the address the broker made up; it uses that
address as ``reply_to`` on every request. The server upper-cases each body
and replies to ``reply_to``, keeping the ``correlation_id``.
"""

from harness.capabilities import DYNAMIC
from harness.expect import attach, expect, outcome
from harness.scenario import Role, Scenario
from harness.trace.patterns import Pattern, capture, frame, ref

REQUESTS = [
    "Twas brillig, and the slithy toves",
    "Did gire and gymble in the wabe.",
    "All mimsy were the borogroves,",
    "And the mome raths outgrabe.",
]

dynamic_reply = Pattern(
    "request-response: the client waits for the dynamic address and uses it as reply_to",
    [
        attach(src="client", role="receiver", link=capture("reply_link"), source__dynamic=True),
        attach(dst="client", link=ref("reply_link"), source__address=capture("reply")),
        attach(src="client", role="sender"),
        frame("transfer", src="client", message__reply_to=ref("reply")),
    ],
    scope="trace",
)

replies = Pattern(
    "request-response: the server replies to reply_to with the correlation id",
    [
        attach(dst="client", source__address=capture("reply")),
        frame(
            "transfer",
            src="client",
            message__reply_to=ref("reply"),
            message__correlation_id=capture("corr"),
        ),
        frame("transfer", src="server", message__correlation_id=ref("corr")),
        frame("transfer", dst="client", message__correlation_id=ref("corr")),
    ],
    scope="trace",
)


def _answered(run):
    client = run.peer_events("client", "message")
    got = {str(e.fields.get("request")): e.fields.get("body") for e in client}
    if len(client) < len(REQUESTS):
        return f"client ({run.roles['client']}) got {len(client)} of {len(REQUESTS)} replies"
    for req in REQUESTS:
        if got.get(req) != req.upper():
            return f"reply to {req!r} was {got.get(req)!r}, expected {req.upper()!r}"
    return None


SCENARIO = Scenario(
    name="request-response",
    description="server upper-cases requests; client uses a dynamic receiver's address as reply_to",
    roles=(
        Role("client", "request", needs=frozenset({"dynamic"}), args=tuple(REQUESTS)),
        Role("server", "serve", ready=True),
    ),
    count=len(REQUESTS),
    timeout=20.0,
    scalable_count=False,
    broker_needs=frozenset({DYNAMIC}),
    checks=(
        expect("reply-to-dynamic", dynamic_reply),
        expect("reply-correlation", replies),
        outcome("reply-bodies", _answered),
    ),
)
