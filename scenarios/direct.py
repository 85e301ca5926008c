"""Hello world direct (tutorial: direct_send/direct_recv, simple_send/simple_recv): no broker.

The tutorial's direct pair comes in two halves, one plan each:

- ``none`` (the default): the receiver listens (direct_recv.py) and the
  sender connects (simple_send.py). The listener issues the credit, the
  messages flow and are accepted, and once the connection has closed the
  listener closes its acceptor and exits.
- ``sender-listens``: the sender listens (direct_send.py) and the receiver
  connects (simple_recv.py). The connector attaches a receiver and grants
  credit, the listener answers with a sender and sends only on that credit,
  every message is accepted, and the connection closes.

Every connecting implementation meets every listening one in both plans; who
can listen is a peer's ``listen`` capability, so a client-only library is not
in a plan's listener set rather than failing in it.
"""

from harness.capabilities import LISTEN
from harness.expect import attach, expect, outcome
from harness.fault_plans import NO_FAULTS, FaultPlan
from harness.scenario import CellRun, Check, Failure, Role, Scenario
from harness.trace.basis import spec, tutorial
from harness.trace.patterns import Pattern, any_order, capture, forbid, frame, gt, never, ref

SEND, RECV = "direct_send.py", "direct_recv.py"
SIMPLE_SEND, SIMPLE_RECV = "simple_send.py", "simple_recv.py"

#: the other half of the tutorial's direct pair: the sender listens, the receiver connects
SENDER_LISTENS = FaultPlan(
    "sender-listens",
    "the sender listens (direct_send.py) and the receiver connects (simple_recv.py)",
)

RECEIVER_LISTENS_ROLES = (
    Role("sender", "send"),
    Role("receiver", "receive", listen=True, needs=frozenset({LISTEN})),
)
SENDER_LISTENS_ROLES = (
    Role("sender", "send", listen=True, needs=frozenset({LISTEN})),
    Role("receiver", "receive"),
)

flow = Pattern(
    "direct: the connector attaches a sender, the listener answers and grants credit",
    [
        attach(src="sender", role="sender", link=capture("link")).because(
            tutorial(SIMPLE_SEND, "the connector attaches a sender", "sender")
        ),
        attach(src="receiver", role="receiver", link=ref("link")).because(
            spec("2.6.3", "receiver")
        ),
        never(frame("transfer", src="sender")).because(spec("2.6.7", "sender")),
        frame("flow", src="receiver", link_credit=gt(0)).because(
            tutorial(RECV, "the listener grants credit (prefetch)", "receiver")
        ),
        frame("transfer", src="sender").because(tutorial(SEND, "messages are sent", "sender")),
        frame("disposition", src="receiver", state__type="accepted").because(
            tutorial(RECV, "each message is accepted", "receiver")
        ),
        frame("close").because(tutorial(SEND, "the connection is closed at the end", "sender")),
    ],
    client="sender",
)

# The connecting receiver may send its flow with its attach, before the
# listener's answer (proton and rhea pipeline them), or after it (go-amqp
# waits for the answer): both are legal (2.6.7: credit is the receiver's to
# give once its attach is sent), so they are one any-order group.
sender_listens_flow = Pattern(
    "direct, sender listens: the connector attaches a receiver and grants credit, "
    "the listener answers and sends on it",
    [
        attach(src="receiver", role="receiver", link=capture("link")).because(
            tutorial(SIMPLE_RECV, "the connector attaches a receiver", "receiver")
        ),
        any_order(
            attach(src="sender", role="sender", link=ref("link")).because(spec("2.6.3", "sender")),
            frame("flow", src="receiver", link_credit=gt(0)).because(
                tutorial(SIMPLE_RECV, "the receiver grants credit (prefetch)", "receiver")
            ),
        ),
        frame("transfer", src="sender").because(
            tutorial(SEND, "the listener sends once a receiver has connected", "sender")
        ),
        frame("disposition", src="receiver", state__type="accepted").because(
            tutorial(SIMPLE_RECV, "each message is accepted", "receiver")
        ),
        frame("close").because(
            tutorial(SEND, "the connection is closed once every message is confirmed", "sender")
        ),
    ],
    client="receiver",
)

# Spelled out apart from the pattern because the any-order group above lets
# the flow come after the listener's attach: no transfer may come before it.
sender_listens_credit = forbid(
    "direct, sender listens: the listener sends nothing before the receiver's credit",
    frame("transfer", src="sender"),
    before=frame("flow", src="receiver", link_credit=gt(0)),
    client="receiver",
    basis=spec("2.6.7", "sender"),
)


def listener(run: CellRun) -> str:
    """The label of the role that listens in this cell (the plan decides which)."""
    return next(r.label for r in run.scenario.roles if r.listen)


def when_listening(label: str, check: Check) -> Check:
    """``check`` only in cells where ``label`` listens: each plan's handshake is its own.

    The check keeps its rule, patterns and citations, so the audit and the docs
    table list both plans' steps under this one scenario.
    """

    def guarded(run: CellRun) -> list[Failure]:
        return check(run) if listener(run) == label else []

    for attr in ("rule", "patterns", "basis", "summary"):
        if hasattr(check, attr):
            setattr(guarded, attr, getattr(check, attr))
    guarded.__name__ = check.__name__
    return guarded


def _all_accepted(run):
    """Every message is confirmed to the sender and received once."""
    want = run.count
    sent = run.result("sender")
    got = run.result("receiver")
    if sent.get("confirmed") != want:
        return (
            "sender",
            f"sender ({run.roles['sender']}) confirmed {sent.get('confirmed')} of {want}",
        )
    if got.get("received") != want:
        return (
            "receiver",
            f"receiver ({run.roles['receiver']}) received {got.get('received')} of {want}",
        )
    return None


SCENARIO = Scenario(
    name="direct",
    description="no broker: one side listens (the receiver, or under sender-listens the "
    "sender), the other connects; the receiver issues credit, the sender sends on it",
    topology="direct",
    roles=RECEIVER_LISTENS_ROLES,
    faults=(NO_FAULTS, SENDER_LISTENS),
    plan_roles=((SENDER_LISTENS.name, SENDER_LISTENS_ROLES),),
    count=10,
    timeout=20.0,
    checks=(
        when_listening("receiver", expect("direct-flow", flow)),
        when_listening("sender", expect("direct-sender-listens-flow", sender_listens_flow)),
        when_listening("sender", expect("direct-sender-listens-credit", sender_listens_credit)),
        outcome(
            "direct-outcome",
            _all_accepted,
            tutorial(SEND, "every message is confirmed and received", "sender"),
        ),
    ),
)
