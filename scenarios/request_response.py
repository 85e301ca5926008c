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

A broker need not create dynamic nodes at all. One that refuses a sender's
dynamic target (2.6.3: a null target, then a detach) or leaves its attach
unanswered gives a JMS client no reply address while a dynamic receiver
still gets one: ``dynamic-target`` says so in one line that quotes the
refusal or names the unanswered attach, and the known failure
``dynamic-target-refused`` (matching ``NO_TARGET_ADDRESS``) makes the cell
``unsupported`` on any broker (``embedded:no-dynamic-target``,
``embedded:silent-dynamic-target`` show both forms).
"""

from collections.abc import Sequence

from harness.capabilities import DYNAMIC
from harness.expect import attach, expect, outcome
from harness.fault_plans import NO_FAULTS, FaultPlan
from harness.scenario import Role, Scenario
from harness.trace.basis import BROKER, spec, tutorial
from harness.trace.model import TraceEvent
from harness.trace.patterns import Pattern, capture, either, frame, ref
from harness.trace.rules.base import TraceInfo, attach_pairs
from harness.trace.rules.links import detach_of, ended_by

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


#: how every line of ``dynamic-target`` begins (the known failure matches on it)
NO_TARGET_ADDRESS = "no reply address for client's dynamic target"


def _asks_dynamic_target(e: TraceEvent) -> bool:
    target = e.fields.get("target")
    return (
        e.src == "client"
        and e.dst == BROKER
        and e.fields.get("role") == "sender"
        and isinstance(target, dict)
        and bool(target.get("dynamic"))
    )


def _said(e: TraceEvent) -> str:
    """A detach, end or close's error as the wire has it: condition "description"."""
    error = e.fields.get("error")
    if not isinstance(error, dict) or not error.get("condition"):
        return "no error"
    description = error.get("description")
    return str(error["condition"]) + (f' "{description}"' if description else "")


def _unanswered_for(asked: TraceEvent, conn: str, until: float, how: str) -> str:
    name = asked.fields.get("name")
    return (
        f"broker left the attach of link {name} unanswered for {until - asked.t:.1f} s "
        f"({how}; attach at {asked.t:.3f} s on {conn})"
    )


def _refused(info: TraceInfo, conn: str, i: int, j: int) -> str | None:
    """The broker's answer at ``j`` refuses the link (2.6.3): a null target, then its detach."""
    asked, answer = info.events[i], info.events[j]
    if answer.fields.get("target") is not None:
        return None  # answered with a node: the address is the invariants' business
    gave_up = detach_of(info, conn, asked, i)
    if gave_up is not None and gave_up < j:  # answered only because the client detached
        until = info.events[gave_up].t
        return _unanswered_for(asked, conn, until, "until the client's detach")
    k = detach_of(info, conn, answer, j)
    if k is None:
        return None  # a null target left attached: the dynamic-address invariant speaks
    return f"broker refused it (2.6.3: a null target, then a detach with {_said(info.events[k])})"


def _unanswered(info: TraceInfo, conn: str, i: int) -> str | None:
    """What became of the client's attach at ``i`` that the broker never answered."""
    asked = info.events[i]
    for k, e in info.frames(conn):
        if k > i and e.src == BROKER and e.name in ("end", "close") and e.fields.get("error"):
            if str(e.fields["error"].get("condition")) != "amqp:not-implemented":
                return None  # a broker in trouble, not one without dynamic targets
            what = "ended the session" if e.name == "end" else "closed the connection"
            return f"broker {what} instead of answering it: {_said(e)}"
    how, by, k = info.ending(conn, i)
    if how == "cut" or (how in ("close", "tcp") and by == BROKER):
        return None  # the connection went away under it: not a refusal
    if k is None:
        return _unanswered_for(asked, conn, info.last_t, "the trace ends there")
    return _unanswered_for(asked, conn, info.events[k].t, ended_by(how, by))


def dynamic_target_declined(trace: Sequence[TraceEvent]) -> str | None:
    """How the broker declined the client's dynamic target, in one line; None if it did not.

    Declining is refusing the attach as 2.6.3 says (a null target, then a
    detach), ending the session or connection with amqp:not-implemented
    instead of an answer, or never answering while the client waited.
    """
    info = TraceInfo(trace)
    for conn in info.conns:
        pairs, unanswered = attach_pairs(info, conn)
        found = [
            _refused(info, conn, i, j) for i, j in pairs if _asks_dynamic_target(info.events[i])
        ] + [_unanswered(info, conn, i) for i in unanswered if _asks_dynamic_target(info.events[i])]
        why = next((w for w in found if w), None)
        if why:
            return f"{NO_TARGET_ADDRESS}: {why}"
    return None


def _target_declined(run):
    """The broker gave the client's dynamic target an address (or was never asked for one)."""
    return dynamic_target_declined(run.story)


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
        outcome("dynamic-target", _target_declined, spec("3.5.4", BROKER)),
        expect("reply-to-dynamic", dynamic_reply),
        expect("reply-correlation", replies),
        outcome(
            "reply-bodies",
            _answered,
            tutorial(SERVER, "each reply is its request upper-cased", "server"),
        ),
    ),
)
