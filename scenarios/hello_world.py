"""Hello world (tutorial: helloworld.py): one peer, one connection, through a broker.

The peer attaches a receiver first; only once the broker has answered that
attach does it attach a sender to the same address; it sends "Hello World!"
only when the broker grants credit; the message comes back on the receiver
and the peer closes the connection.
"""

from harness.expect import attach, expect, outcome
from harness.scenario import Role, Scenario
from harness.trace.patterns import Pattern, capture, frame, gt, never, ref

BODY = "Hello World!"

handshake = Pattern(
    "hello world: receiver attached first, sender only after its answer, send on credit",
    [
        attach(
            src="hello", role="receiver", link=capture("rlink"), source__address=capture("queue")
        ),
        attach(dst="hello", link=ref("rlink")),
        attach(src="hello", role="sender", target__address=ref("queue")),
        never(frame("transfer", src="hello")),
        frame("flow", dst="hello", link_credit=gt(0)),
        frame("transfer", src="hello", message__body=BODY),
    ],
    client="hello",
)

roundtrip = Pattern(
    "hello world: the message comes back, is accepted, then the peer closes",
    [
        frame("transfer", src="hello", message__body=BODY),
        frame("transfer", dst="hello", message__body=BODY),
        frame("disposition", src="hello", role="receiver", state__type="accepted"),
        frame("close", src="hello"),
        frame("close", dst="hello"),
    ],
    client="hello",
)


def _received(run):
    got = run.result("hello").get("received")
    if got != [BODY]:
        return f"hello ({run.roles['hello']}) received {got!r}, expected [{BODY!r}]"
    return None


SCENARIO = Scenario(
    name="hello-world",
    description="one connection: receiver first, sender after its remote open, one message on credit",
    roles=(Role("hello", "hello"),),
    count=1,
    timeout=20.0,
    scalable_count=False,
    checks=(
        expect("hello-handshake", handshake),
        expect("hello-roundtrip", roundtrip),
        outcome("hello-body", _received),
    ),
)
