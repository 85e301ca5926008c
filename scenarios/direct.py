"""Hello world direct (tutorial: helloworld_direct, direct_send/direct_recv): no broker.

The receiver listens; the sender connects to it. The listener issues the
credit, the messages flow and are accepted, and once the connection has
closed the listener closes its acceptor and exits.
"""

from harness.expect import attach, expect, outcome
from harness.scenario import Role, Scenario
from harness.trace.patterns import Pattern, capture, frame, gt, never, ref

flow = Pattern(
    "direct: the connector attaches a sender, the listener answers and grants credit",
    [
        attach(src="sender", role="sender", link=capture("link")),
        attach(src="receiver", role="receiver", link=ref("link")),
        never(frame("transfer", src="sender")),
        frame("flow", src="receiver", link_credit=gt(0)),
        frame("transfer", src="sender"),
        frame("disposition", src="receiver", state__type="accepted"),
        frame("close"),
    ],
    client="sender",
)


def _all_accepted(run):
    want = run.count
    sent = run.result("sender")
    got = run.result("receiver")
    if sent.get("confirmed") != want:
        return f"sender ({run.roles['sender']}) confirmed {sent.get('confirmed')} of {want}"
    if got.get("received") != want:
        return f"receiver ({run.roles['receiver']}) received {got.get('received')} of {want}"
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
        outcome("direct-outcome", _all_accepted),
    ),
)
