"""Citations in verdicts, alternatives the spec allows, and heartbeats patterns never see.

Why: a verdict must say which side deviated from what ("broke 2.6.7 flow
control (broker ...): ..."); a pattern must accept every legal way a broker
may behave (a pre-settled delivery instead of an accepted one); and empty
frames, which any side may send at any time after its open (2.3.2), must
neither satisfy nor upset a pattern.
"""

from __future__ import annotations

from harness.expect import expect, outcome, violation_failure
from harness.fault_plans import NO_FAULTS
from harness.scenario import CellRun, Role, Scenario
from harness.trace import invariants
from harness.trace.basis import BROKER, spec, tutorial
from harness.trace.model import FRAME
from harness.trace.patterns import Pattern, either, frame, gt, match, never, not_
from tests.trace.builders import TraceBuilder, hello_trace

SCENARIO = Scenario("s", "d", (Role("hello", "hello"),))


def _run(events) -> CellRun:
    return CellRun(
        scenario=SCENARIO,
        plan=NO_FAULTS,
        count=1,
        address="q",
        roles={"hello": "js"},
        peers={},
        trace=events,
        broker={"name": "embedded:presettled"},
    )


ROUNDTRIP = Pattern(
    "settled either way",
    [
        frame("transfer", src="hello").because(tutorial("helloworld.py", "sends", "hello")),
        either(
            frame("transfer", dst="hello", settled=True).because(spec("3.3", BROKER)),
            [
                frame("transfer", dst="hello", settled=not_(True)).because(spec("3.3", BROKER)),
                frame("disposition", src="hello", state__type="accepted").because(
                    tutorial("helloworld.py", "accepts", "hello")
                ),
            ],
        ),
        frame("close", src="hello").because(tutorial("helloworld.py", "closes", "hello")),
    ],
    client="hello",
)


def _delivery(settled: bool, accepted: bool):
    tb = TraceBuilder()
    c = tb.conn("hello")
    c.open()
    c.attach_pair("r", "receiver")
    c.transfer("hello", 0, 0, body="x")
    c.transfer("broker", 0, 0, body="x", settled=settled)
    if accepted:
        c.accept("hello", 0)
    c.close()
    return tb.events


def test_either_alternative_matches():
    assert match(ROUNDTRIP, _delivery(settled=True, accepted=False)).ok
    assert match(ROUNDTRIP, _delivery(settled=False, accepted=True)).ok


def test_either_failure_explains_the_closest_alternative_and_cites_its_step():
    result = match(ROUNDTRIP, _delivery(settled=False, accepted=False))
    assert not result.ok
    assert "closest of 2 alternatives" in result.explain()
    assert "expected step 3: frame disposition src=hello state__type=accepted" in result.explain()
    assert result.failed is not None and result.failed.basis.side == "hello"


def test_a_pattern_failure_reason_cites_the_basis_and_the_side():
    p = Pattern(
        "credit",
        [
            frame("attach", src="hello").because(tutorial("helloworld.py", "attaches", "hello")),
            frame("flow", dst="hello", link_credit=gt(100)).because(spec("2.6.7", BROKER)),
        ],
        client="hello",
    )
    [failure] = expect("hello-credit", p)(_run(hello_trace()))
    assert failure.message.startswith(
        'broke 2.6.7 flow control (broker (embedded:presettled)): pattern "credit" did not match'
    )
    assert "expected step 2" in failure.message


def test_a_never_step_failure_names_the_peer_and_its_implementation():
    tb = TraceBuilder()
    c = tb.conn("hello")
    c.open()
    c.attach_pair("s", "sender")
    c.transfer("hello", 0, 0, body="early")
    c.s("flow", handle=0, delivery_count=0, link_credit=5)
    p = Pattern(
        "credit first",
        [
            frame("attach", src="hello").because(tutorial("helloworld.py", "attaches", "hello")),
            never(frame("transfer", src="hello")).because(spec("2.6.7", "hello")),
            frame("flow", dst="hello").because(spec("2.6.7", BROKER)),
        ],
    )
    [failure] = expect("send-on-credit", p)(_run(tb.events))
    assert failure.message.startswith("broke 2.6.7 flow control (hello (js)): ")


def _hang_up(broker_answers: bool):
    tb = TraceBuilder()
    c = tb.conn("hello")
    c.open()
    c.c("close")
    if broker_answers:
        c.s("close")
    tb.add(kind="conn", name="close", conn="c1", src="hello", dst="broker", fields={"by": "hello"})
    return tb.events


CLOSES = Pattern(
    "the broker answers the close",
    [
        frame("close", src="hello").because(tutorial("helloworld.py", "closes", "hello")),
        frame("close", dst="hello", error={"condition": "x"}).because(spec("2.4.3", BROKER)),
    ],
    client="hello",
)


def test_a_step_missing_because_the_other_side_hung_up_blames_the_one_who_hung_up():
    [failure] = expect("closing", CLOSES)(_run(_hang_up(broker_answers=False)))
    assert failure.message.startswith("broke 2.4.3 closing a connection (hello (js)): ")
    # the broker did answer (not as the pattern wanted): then the broker's step is the one
    [failure] = expect("closing", CLOSES)(_run(_hang_up(broker_answers=True)))
    assert failure.message.startswith("broke 2.4.3 closing a connection (broker (embedded:")


def test_an_invariant_failure_cites_its_section_and_the_frame_sender():
    tb = TraceBuilder()
    c = tb.conn("hello")
    c.open()
    c.attach_pair("r", "receiver")
    c.c("flow", handle=0, delivery_count=0, link_credit=1)
    c.transfer("broker", 0, 0, body="a")
    c.transfer("broker", 0, 1, body="b")  # beyond the credit of 1
    [v] = invariants.check(tb.events, rules=["credit"])
    failure = violation_failure(v, _run(tb.events))
    assert failure.rule == "credit"
    assert failure.message.startswith("broke 2.6.7 flow control (broker (embedded:presettled)): ")
    assert v.message in failure.message


def test_an_unanswered_attach_blames_the_side_that_did_not_answer():
    tb = TraceBuilder()
    c = tb.conn("hello")
    c.open()
    c.c("attach", name="r", handle=0, role="receiver", source={"dynamic": True})
    c.close()
    [v] = invariants.check(tb.events, rules=["attach-answered"])
    assert v.side == BROKER


def test_an_outcome_may_name_the_side_that_deviated():
    def lost(run):
        """Nothing is lost."""
        return BROKER, "the broker dropped 3 messages"

    [failure] = outcome("nothing-lost", lost, spec("3.4", "hello"))(_run([]))
    assert failure.message == (
        "broke 3.4 delivery state (broker (embedded:presettled)): the broker dropped 3 messages"
    )


def _with_heartbeats(events):
    out = []
    for e in events:
        out.append(e)
        if e.kind == FRAME and e.name in ("open", "transfer"):
            for src, dst in ((e.src, e.dst), (e.dst, e.src)):
                beat = type(e)(e.t, FRAME, "empty", e.conn, src, dst, 0, {})
                out.append(beat)
    return out


def test_heartbeats_neither_match_nor_break_a_pattern():
    events = _with_heartbeats(hello_trace())
    anything_then_close = Pattern(
        "no frame but heartbeats between the transfer and the accept",
        [
            frame("transfer", dst="hello"),
            never(frame(None, src="hello")),  # an empty frame would be 'any frame'
            frame("disposition", src="hello"),
        ],
        client="hello",
    )
    assert match(anything_then_close, events).ok
    only_beats = Pattern("a heartbeat", [frame("empty")], client="hello")
    assert not match(only_beats, events).ok
