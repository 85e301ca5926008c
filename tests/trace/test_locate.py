"""Failures found again on their trace: what a cell page highlights on the diagram.

Why: verdict.json keeps failures as text; the diagram must point at the
event each one is about (the transfer beyond credit, the frame that came
instead of the expected step), or a reader is back to grepping.
"""

from __future__ import annotations

from harness.expect import _summary
from harness.trace import invariants
from harness.trace.citations import citation
from harness.trace.locate import FAILED, MATCHED, Spot, by_index, locate
from harness.trace.patterns import Pattern, forbid, frame, match, never
from harness.trace.render import render_event
from tests.trace.builders import TraceBuilder, hello_trace


def _early_transfer():
    tb = TraceBuilder()
    c = tb.conn("hello")
    c.open()
    c.attach_pair("s", "sender")
    early = c.transfer("hello", 0, 0, body="early")
    c.s("flow", handle=0, delivery_count=0, link_credit=5)
    c.close()
    return tb.events, tb.events.index(early)


def _as_failure(rule, result):
    return {"rule": rule, "message": _summary(result.explain()), "detail": result.explain()}


def test_an_invariant_is_found_again_by_its_message():
    events, early = _early_transfer()
    [v] = invariants.check(events, rules=["credit"])
    spots = locate(events, [{"rule": "credit", "message": v.message, "detail": ""}])
    assert spots == [Spot(early, FAILED, 0)]


def test_a_missing_step_points_at_what_came_instead_and_at_the_steps_matched():
    events = hello_trace(answer_first=False)
    p = Pattern(
        "answer before sender",
        [
            frame("attach", src="hello", role="receiver"),
            frame("attach", dst="hello", role="sender"),
            frame("attach", src="hello", role="sender"),
        ],
    )
    result = match(p, events)
    assert not result.ok
    spots = locate(events, [_as_failure("hello-handshake", result)])
    failed = [s.index for s in spots if s.kind == FAILED]
    matched = [s.index for s in spots if s.kind == MATCHED]
    assert matched == [i for i in result.indices if i is not None]
    # the event right after the last matched step in the same view came instead
    assert len(failed) == 1 and failed[0] > matched[-1]
    assert render_event(events[failed[0]]).strip() in result.explain()


def test_a_never_step_points_at_the_event_that_broke_it():
    events, early = _early_transfer()
    p = Pattern(
        "credit first",
        [frame("attach", src="hello"), never(frame("transfer", src="hello")), frame("flow")],
    )
    spots = locate(events, [_as_failure("send-flow", match(p, events))])
    assert [s.index for s in spots if s.kind == FAILED] == [early]


def test_a_forbidden_event_is_the_failed_spot():
    events, early = _early_transfer()
    fb = forbid("no transfer before credit", frame("transfer"), before=frame("flow"))
    result = match(fb, events)
    assert not result.ok
    spots = locate(events, [_as_failure("credit-before-send", result)])
    assert [s.index for s in spots if s.kind == FAILED] == [early]


def test_a_message_quoting_where_the_trace_stopped():
    events = hello_trace()
    last = max(i for i, e in enumerate(events) if e.kind == "frame")
    msg = f"sender (js) timed out; trace stopped at: {render_event(events[last]).strip()}"
    assert locate(events, [{"rule": "peer-timeout", "message": msg}]) == [Spot(last, FAILED, 0)]


def test_an_outcome_has_no_spot_and_two_failures_can_share_one():
    events, early = _early_transfer()
    [v] = invariants.check(events, rules=["credit"])
    fails = [
        {"rule": "nothing-lost", "message": "3 of 100 ids never received"},
        {"rule": "credit", "message": v.message},
        {"rule": "credit", "message": v.message},
    ]
    spots = locate(events, fails)
    assert [s.failure for s in spots] == [1, 2]
    assert by_index(spots) == {early: Spot(early, FAILED, 1)}
    assert by_index([Spot(3, MATCHED, 0), Spot(3, FAILED, 1)])[3].kind == FAILED


def test_every_failure_says_what_it_rests_on():
    assert citation("credit").startswith("AMQP 1.0 2.6.7")
    assert "tutorial" in citation("detach-before-close")
    assert "CONTRACT.md" in citation("peer-timeout")
    detail = 'pattern "hello: receiver first" did not match on c1\nmatched 1 of 3 steps:'
    assert citation("hello-handshake", detail, "hello-world") == (
        "scenario hello-world, after the Proton tutorial: hello: receiver first"
    )
    assert citation("nothing-lost", "", "at-least-once") == (
        "scenario at-least-once's outcome check (nothing-lost)"
    )
