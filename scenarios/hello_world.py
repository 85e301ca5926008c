"""Hello world (tutorial: helloworld.py): one peer, one connection, through a broker.

The peer attaches a receiver first; only once the broker has answered that
attach does it attach a sender to the same address; it sends "Hello World!"
only when the broker grants credit; the message comes back on the receiver
and the peer closes the connection.
"""

from harness.expect import attach, expect, outcome
from harness.scenario import Role, Scenario
from harness.trace.basis import BROKER, spec, tutorial
from harness.trace.patterns import Pattern, capture, either, frame, gt, never, not_, ref

BODY = "Hello World!"
HELLO = "helloworld.py"

handshake = Pattern(
    "hello world: receiver attached first, sender only after its answer, send on credit",
    [
        attach(
            src="hello", role="receiver", link=capture("rlink"), source__address=capture("queue")
        ).because(tutorial(HELLO, "the receiver is attached first", "hello")),
        attach(dst="hello", link=ref("rlink")).because(spec("2.6.3", BROKER)),
        attach(src="hello", role="sender", target__address=ref("queue")).because(
            tutorial(
                HELLO, "the sender is attached once the receiver's attach is answered", "hello"
            )
        ),
        never(frame("transfer", src="hello")).because(spec("2.6.7", "hello")),
        frame("flow", dst="hello", link_credit=gt(0)).because(spec("2.6.7", BROKER)),
        frame("transfer", src="hello", message__body=BODY).because(
            tutorial(HELLO, "'Hello World!' is sent on credit", "hello")
        ),
    ],
    client="hello",
)

# The broker may deliver pre-settled when the receiver left snd-settle-mode at
# mixed (2.8.2): then there is nothing to accept. An unsettled delivery is
# accepted by the tutorial's handler (auto-accept).
roundtrip = Pattern(
    "hello world: the message comes back and is settled, then the peer closes",
    [
        frame("transfer", src="hello", message__body=BODY).because(
            tutorial(HELLO, "the message is sent", "hello")
        ),
        either(
            frame("transfer", dst="hello", message__body=BODY, settled=True).because(
                spec("3.3", BROKER)
            ),
            [
                frame("transfer", dst="hello", message__body=BODY, settled=not_(True)).because(
                    spec("3.3", BROKER)
                ),
                frame("disposition", src="hello", role="receiver", state__type="accepted").because(
                    tutorial(HELLO, "an unsettled message is accepted (auto-accept)", "hello")
                ),
            ],
        ),
        frame("close", src="hello").because(
            tutorial(HELLO, "the connection is closed once the message came back", "hello")
        ),
        frame("close", dst="hello").because(spec("2.4.3", BROKER)),
    ],
    client="hello",
)


def _received(run):
    """The peer received exactly 'Hello World!'."""
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
        outcome("hello-body", _received, tutorial(HELLO, "'Hello World!' comes back", "hello")),
    ),
)
