"""Request/response (tutorial: server.py, client.py) with a dynamic reply-to address.

The client attaches a receiver with a dynamic source and waits for the
broker's answer, which carries the address the broker made up; it uses that
address as ``reply_to`` on every request. The server upper-cases each body
and replies to ``reply_to``, keeping the ``correlation_id``.

Some brokers answer a dynamic source only when it names their own kind of
node (RabbitMQ 4.2+: ``rabbitmq:volatile-queue``). The broker supplies that
capability (``Broker.dynamic_capabilities``, from its fingerprint or profile)
and the client puts it on its source (``--dynamic-capability``); the cell
records it in its figures. The ``tutorial-pure`` plan keeps the tutorial's
plain dynamic source, so a broker that refuses it shows that refusal.
"""

from harness.capabilities import DYNAMIC
from harness.expect import attach, expect, outcome
from harness.fault_plans import NO_FAULTS, FaultPlan
from harness.scenario import Role, Scenario
from harness.trace.basis import BROKER, spec, tutorial
from harness.trace.patterns import Pattern, capture, either, frame, ref

REQUESTS = [
    "Twas brillig, and the slithy toves",
    "Did gire and gymble in the wabe.",
    "All mimsy were the borogroves,",
    "And the mome raths outgrabe.",
]

CLIENT, SERVER = "client.py", "server.py"

#: the client's dynamic source as client.py opens it: no broker-specific capability
TUTORIAL_PURE = FaultPlan(
    "tutorial-pure",
    "the tutorial's dynamic source, without the capabilities the broker asks for",
    plain_dynamic=True,
)

# The tutorial's client attaches its request sender before the reply receiver
# is answered; what it waits for is the address, before the first request.
# The address comes from a receiver's dynamic source (the tutorial, 3.5.3) or,
# for a JMS client's temporary queue, from a sender's dynamic target (3.5.4):
# the peer's request result says which (``reply_via``).
dynamic_reply = Pattern(
    "request-response: the client waits for the dynamic address and uses it as reply_to",
    [
        either(
            [
                attach(
                    src="client", role="receiver", link=capture("reply_link"), source__dynamic=True
                ).because(tutorial(CLIENT, "the reply receiver has a dynamic source", "client")),
                attach(
                    dst="client", link=ref("reply_link"), source__address=capture("reply")
                ).because(spec("3.5.3", BROKER)),
            ],
            [
                attach(
                    src="client", role="sender", link=capture("reply_link"), target__dynamic=True
                ).because(spec("3.5.4", "client")),
                attach(
                    dst="client", link=ref("reply_link"), target__address=capture("reply")
                ).because(spec("3.5.4", BROKER)),
            ],
        ),
        frame("transfer", src="client", message__reply_to=ref("reply")).because(
            tutorial(CLIENT, "requests carry the dynamic address as reply_to", "client")
        ),
    ],
    scope="trace",
)

replies = Pattern(
    "request-response: the server replies to reply_to with the correlation id",
    [
        attach(dst="client", source__address=capture("reply")).because(spec("3.5.3", BROKER)),
        frame(
            "transfer",
            src="client",
            message__reply_to=ref("reply"),
            message__correlation_id=capture("corr"),
        ).because(tutorial(CLIENT, "each request has its correlation id", "client")),
        frame("transfer", src="server", message__correlation_id=ref("corr")).because(
            tutorial(SERVER, "the reply keeps the request's correlation id", "server")
        ),
        frame("transfer", dst="client", message__correlation_id=ref("corr")).because(
            spec("3.3", BROKER)
        ),
    ],
    scope="trace",
)


def _answered(run):
    """The client got every reply: its request upper-cased."""
    client = run.peer_events("client", "message")
    got = {str(e.fields.get("request")): e.fields.get("body") for e in client}
    if len(client) < len(REQUESTS):
        return (
            "client",
            f"client ({run.roles['client']}) got {len(client)} of {len(REQUESTS)} replies",
        )
    for req in REQUESTS:
        if got.get(req) != req.upper():
            return "server", f"reply to {req!r} was {got.get(req)!r}, expected {req.upper()!r}"
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
    faults=(NO_FAULTS, TUTORIAL_PURE),
    checks=(
        expect("reply-to-dynamic", dynamic_reply),
        expect("reply-correlation", replies),
        outcome(
            "reply-bodies",
            _answered,
            tutorial(SERVER, "each reply is its request upper-cased", "server"),
        ),
    ),
)
