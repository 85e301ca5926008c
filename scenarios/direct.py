"""Hello world direct (tutorial: helloworld_direct, direct_send/direct_recv): no broker.

The receiver listens; the sender connects to it. The listener issues the
credit, the messages flow and are accepted, and once the connection has
closed the listener closes its acceptor and exits.
"""

from harness.expect import attach, expect, outcome
from harness.scenario import Role, Scenario
from harness.trace.basis import spec, tutorial
from harness.trace.patterns import Pattern, capture, frame, gt, never, ref

SEND, RECV = "direct_send.py", "direct_recv.py"

flow = Pattern(
    "direct: the connector attaches a sender, the listener answers and grants credit",
    [
        attach(src="sender", role="sender", link=capture("link")).because(
            tutorial(SEND, "the connector attaches a sender", "sender")
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
    description="no broker: the receiver listens and issues credit, the sender connects and sends",
    topology="direct",
    roles=(
        Role("sender", "send"),
        Role("receiver", "receive", listen=True, needs=frozenset({"listen"})),
    ),
    count=10,
    timeout=20.0,
    checks=(
        expect("direct-flow", flow),
        outcome(
            "direct-outcome",
            _all_accepted,
            tutorial(SEND, "every message is confirmed and received", "sender"),
        ),
    ),
)
