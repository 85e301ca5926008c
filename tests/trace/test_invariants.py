import pathlib

import pytest

from harness.trace.invariants import (
    DEFAULT_RULES,
    MAX_PER_CONN,
    RULES,
    check,
    render_violations,
)
from harness.trace.jsonl import read_trace
from tests.trace.builders import (
    TraceBuilder,
    at_least_once_trace,
    hello_trace,
    request_response_trace,
)


def only(events, rule):
    return [str(v) for v in check(events, rules=[rule])]


def sender_link(credit=None, client="sender"):
    """A client sender link through a broker, optionally with a flow granting credit."""
    tb = TraceBuilder()
    c = tb.conn(client)
    c.open()
    c.attach_pair("L", "sender")
    if credit is not None:
        c.s("flow", handle=0, delivery_count=0, link_credit=credit)
    return tb, c


@pytest.mark.parametrize(
    "events",
    [
        hello_trace(),
        hello_trace(answer_first=False),
        at_least_once_trace(),
        request_response_trace(),
    ],
)
def test_good_traces_pass_every_rule(events):
    # unsettled-receive is the at-least-once scenario's own (these receivers keep the default)
    rules = [r for r in RULES if r != "unsettled-receive"]
    assert check(events, rules=rules) == [], render_violations(check(events))


DATA = pathlib.Path(__file__).parent / "data"


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.jsonl")))
def test_recorded_traces_pass_the_default_rules(name):
    # python and js peers through the embedded broker, alo-* with a cut after transfer #5
    events = read_trace(DATA / name)
    assert check(events) == [], render_violations(check(events))


def test_recorded_peers_close_without_detaching():
    # why detach-before-close is not a default rule: proton and rhea both skip the detaches
    assert "detach-before-close" not in DEFAULT_RULES
    for impl in ("python", "js"):
        vs = check(read_trace(DATA / f"hello-{impl}.jsonl"), rules=["detach-before-close"])
        assert len(vs) == 2


# ------------------------------------------------------------------ open-first


def test_open_first_begin_before_open():
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.headers()
    c.c("begin", next_outgoing_id=0)
    c.c("open", container_id="x")
    (msg,) = only(tb.events, "open-first")
    assert msg.startswith("[open-first] c1 sender->broker begin at")
    assert "before sender's open" in msg


def test_open_first_attach_and_transfer_before_their_prerequisites():
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.headers()
    c.c("open")
    c.c("attach", channel=2, name="L", handle=0, role="sender")
    c.c("transfer", handle=7, delivery_id=0)
    c.c("flow", handle=8, link_credit=1)
    msgs = only(tb.events, "open-first")
    assert "attach name=L handle=0 on channel 2" in msgs[0]
    assert "before sender's begin on channel 2" in msgs[0]
    assert "transfer handle=7" in msgs[1] and "before sender's begin on channel 0" in msgs[1]
    assert "before sender's attach of handle 7" in msgs[2]
    assert "flow handle=8" in msgs[3] and "attach of handle 8" in msgs[3]


def test_open_first_handles_are_freed_by_detach_and_sasl_is_ignored():
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.c("sasl_init", mechanism="ANONYMOUS")
    c.open()
    c.attach_pair("L", "sender")
    c.c("detach", handle=0, closed=True)
    c.c("transfer", handle=0, delivery_id=0)
    (msg,) = only(tb.events, "open-first")
    assert "before sender's attach of handle 0" in msg


def test_open_first_second_open():
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.open()
    c.c("open")
    assert "second open" in only(tb.events, "open-first")[0]


# ------------------------------------------------------------------ close-last


def test_close_last():
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.open()
    c.c("close")
    c.c("empty")
    c.s("begin", channel=1)  # the other side has not closed yet: fine
    c.c("end")
    (msg,) = only(tb.events, "close-last")
    assert msg.startswith("[close-last] c1 sender->broker end at")
    assert "after sender's close at" in msg


# ---------------------------------------------------------------------- credit


def test_credit_transfer_before_any_flow():
    tb, c = sender_link()
    c.transfer("sender", 0, 0, msg_id=1)
    (msg,) = only(tb.events, "credit")
    assert "c1 sender->broker transfer handle=0 delivery_id=0 message id=1" in msg
    assert "on link L before any credit from broker" in msg


def test_credit_beyond_the_grant():
    tb, c = sender_link(credit=2)
    for i in range(3):
        c.transfer("sender", 0, i, msg_id=i + 1)
    (msg,) = only(tb.events, "credit")
    assert "delivery_id=2" in msg
    assert "beyond credit: delivery-count 2, limit 2 granted by broker" in msg


def test_credit_replenished_and_multi_frame_deliveries():
    tb, c = sender_link(credit=1)
    c.transfer("sender", 0, 0, more=True)
    c.transfer("sender", 0, None, more=True)
    c.transfer("sender", 0, None, msg_id=1)  # one delivery in three frames: one credit
    c.s("flow", handle=0, delivery_count=1, link_credit=1)
    c.transfer("sender", 0, 1, msg_id=2)
    assert only(tb.events, "credit") == []
    c.transfer("sender", 0, 2, msg_id=3)
    assert len(only(tb.events, "credit")) == 1


def test_credit_null_delivery_count_uses_the_senders_initial_count():
    tb = TraceBuilder()
    c = tb.conn("receiver")
    c.open()
    c.c("attach", name="R", handle=0, role="receiver", source={"address": "q"})
    c.c("flow", handle=0, delivery_count=None, link_credit=2)  # before the sender's attach
    c.s("attach", name="R", handle=3, role="sender", initial_delivery_count=100)
    c.transfer("broker", 3, 0)
    c.transfer("broker", 3, 1)
    assert only(tb.events, "credit") == []
    c.transfer("broker", 3, 2)
    assert "limit 102" in only(tb.events, "credit")[0]


def test_credit_drain_and_sender_flow_and_wraparound():
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.open()
    top = 2**32 - 1
    c.c("attach", name="L", handle=0, role="sender", initial_delivery_count=top)
    c.s("attach", name="L", handle=0, role="receiver")
    c.s("flow", handle=0, delivery_count=top, link_credit=2, drain=True)
    c.transfer("sender", 0, 0)  # count wraps from 2**32-1 to 0
    c.c("flow", handle=0, delivery_count=1, link_credit=0)  # drained: count jumps to the limit
    c.transfer("sender", 0, 1)
    (msg,) = only(tb.events, "credit")
    assert "delivery-count 1, limit 1" in msg


def test_credit_reduction_is_not_enforced():
    tb, c = sender_link(credit=5)
    c.s("flow", handle=0, delivery_count=0, link_credit=0)  # in flight: the sender has not seen it
    c.transfer("sender", 0, 0)
    assert only(tb.events, "credit") == []


def test_credit_reattach_starts_afresh():
    tb, c = sender_link(credit=5)
    c.c("detach", handle=0, closed=False)
    c.s("detach", handle=0, closed=False)
    c.attach_pair("L", "sender")
    c.transfer("sender", 0, 0)
    assert "before any credit" in only(tb.events, "credit")[0]


# ------------------------------------------------------------- attach-answered


def test_attach_unanswered_then_closed_by_the_attaching_side():
    tb = TraceBuilder(step=1.0)
    c = tb.conn("client")
    c.open()
    c.c("attach", name="reply", handle=0, role="receiver", source={"dynamic": True})
    c.close()
    (msg,) = only(tb.events, "attach-answered")
    assert "c1: attach of link reply from client not answered by broker within 1.0 s" in msg
    assert "then client closed the connection" in msg


def test_attach_unanswered_but_excused():
    for ending in ("broker-close", "cut", "broker-tcp"):
        tb = TraceBuilder()
        c = tb.conn("client")
        c.open()
        c.c("attach", name="r", handle=0, role="receiver", source={"address": "q"})
        if ending == "broker-close":
            c.close(first="broker")
        elif ending == "cut":
            c.cut()
        else:
            tb.add(kind="conn", name="close", conn="c1", fields={"by": "broker"})
        assert only(tb.events, "attach-answered") == [], ending


def test_an_attach_whose_own_session_ends_at_once_is_owed_no_answer():
    """Artemis: a sender back after a restart with nothing to send writes attach, detach and
    end together; the broker answers the end alone (ending a session ends its links)."""
    for step, owed in ((0.01, False), (1.0, True)):  # at once; or ended after waiting a second
        tb = TraceBuilder(step=step)
        c = tb.conn("client")
        c.open()
        c.c("attach", name="s", handle=1, role="sender", target={"address": "q"})
        c.c("detach", handle=1, closed=True)
        c.c("end")
        c.s("end")
        c.close()
        assert bool(only(tb.events, "attach-answered")) is owed, step


def test_attach_unanswered_when_the_trace_ends_open():
    tb = TraceBuilder()
    c = tb.conn("client")
    c.open()
    c.c("attach", name="r", handle=0, role="receiver", source={"address": "q"})
    tb.peer("client", "timeout", waiting_for="link")
    (msg,) = only(tb.events, "attach-answered")
    assert "trace ended with the connection open" in msg


def test_attach_unanswered_until_the_harness_stops_the_tap():
    tb = TraceBuilder(step=2.5)
    c = tb.conn("client")
    c.open()
    c.c("attach", name="reply", handle=0, role="receiver", source={"dynamic": True})
    tb.add(kind="conn", name="close", conn="c1", fields={"by": "tap-stop"})
    (msg,) = only(tb.events, "attach-answered")
    assert "attach of link reply from client not answered by broker within 2.5 s" in msg
    assert "then the harness stopped the tap at" in msg


def test_broker_initiated_attach_is_answered_by_client():
    tb = TraceBuilder()
    c = tb.conn("client")
    c.open()
    c.s("attach", name="x", handle=0, role="sender")
    c.c("attach", name="x", handle=0, role="receiver")
    assert only(tb.events, "attach-answered") == []


# ------------------------------------------------------------- dynamic-address


def dynamic(answer_source, detach=False):
    tb = TraceBuilder()
    c = tb.conn("client")
    c.open()
    c.c("attach", name="reply", handle=0, role="receiver", source={"dynamic": True})
    c.s("attach", name="reply", handle=0, role="sender", source=answer_source)
    if detach:
        c.s("detach", handle=0, closed=True, error={"condition": "amqp:not-implemented"})
    return only(tb.events, "dynamic-address")


def test_dynamic_address():
    assert dynamic({"address": "tmp-1"}) == []
    (msg,) = dynamic({"address": None, "dynamic": True})
    assert "answer to the dynamic source of link reply from client has no address" in msg
    assert msg.startswith("[dynamic-address] c1 broker->client attach name=reply")
    assert dynamic({"address": ""})
    assert dynamic(None, detach=True) == []  # a refusal
    assert "no detach follows" in dynamic(None)[0]


def test_dynamic_target():
    tb = TraceBuilder()
    c = tb.conn("client")
    c.open()
    c.c("attach", name="t", handle=0, role="sender", target={"dynamic": True})
    c.s("attach", name="t", handle=0, role="receiver", target={"address": None})
    assert "dynamic target" in only(tb.events, "dynamic-address")[0]


# ----------------------------------------------------------- delivery-id-order


def test_delivery_ids_must_increase():
    tb, c = sender_link(credit=10)
    c.transfer("sender", 0, 5)
    c.transfer("sender", 0, 6, more=True)
    c.transfer("sender", 0, 6, more=True)  # repeated: fine
    c.transfer("sender", 0, None)  # omitted: fine
    assert only(tb.events, "delivery-id-order") == []
    c.transfer("sender", 0, 6)
    (msg,) = only(tb.events, "delivery-id-order")
    assert "delivery_id 6 does not increase (previous 6 from sender on channel 0)" in msg


def test_delivery_id_changes_inside_a_multi_frame_delivery():
    tb, c = sender_link(credit=10)
    c.transfer("sender", 0, 0, more=True)
    c.transfer("sender", 0, 1)
    (msg,) = only(tb.events, "delivery-id-order")
    assert "continues delivery 0 but carries delivery_id 1" in msg


def test_delivery_ids_are_per_direction_and_first_frame_needs_one():
    tb, c = sender_link(credit=10)
    c.transfer("sender", 0, 3)
    c.transfer("broker", 0, 0)  # other direction: its own sequence
    c.transfer("sender", 0, None)
    (msg,) = only(tb.events, "delivery-id-order")
    assert "first transfer without a delivery_id" in msg


# --------------------------------------------------------- detach-before-close


def test_detach_before_close():
    tb, c = sender_link()
    c.close()
    (msg,) = only(tb.events, "detach-before-close")
    assert "c1: sender closed the connection at" in msg
    assert "with link L (handle 0) still attached" in msg


def test_detach_before_close_excused():
    tb, c = sender_link()
    c.c("end")
    c.close()
    assert only(tb.events, "detach-before-close") == []
    tb, c = sender_link()
    c.c("close", error={"condition": "amqp:internal-error"})
    assert only(tb.events, "detach-before-close") == []
    tb, c = sender_link()  # the broker closes first: a tutorial habit is never asked of it
    c.close(first="broker")
    assert only(tb.events, "detach-before-close") == []


# ----------------------------------------------------------- settled-or-resent


def test_lost_messages_are_reported():
    events = at_least_once_trace(count=5, cut_after=3, resend=False)
    (msg,) = only(events, "settled-or-resent")
    assert "c1: 2 unsettled message(s) from sender not sent again" in msg
    assert "(connection cut): ids 2, 3" in msg


def test_unsettled_at_a_clean_close_is_lost_too():
    tb, c = sender_link(credit=10)
    c.transfer("sender", 0, 0, msg_id=1)
    c.transfer("sender", 0, 1, msg_id=2)
    c.transfer("sender", 0, 2, msg_id=3, settled=True)  # pre-settled: at-most-once, not tracked
    c.accept("broker", 0)
    c.close()
    (msg,) = only(tb.events, "settled-or-resent")
    assert "(connection closed): ids 2" in msg


def test_range_dispositions_and_multi_frame_ids():
    tb, c = sender_link(credit=10)
    c.transfer("sender", 0, 0, more=True)
    c.transfer("sender", 0, None, msg_id=1)  # the id is decoded on the last frame
    c.transfer("sender", 0, 1, msg_id=2)
    c.accept("broker", 0, 1)
    assert only(tb.events, "settled-or-resent") == []


def test_a_delivery_settled_before_its_last_frame_is_not_lost():
    """The rule drops a settled delivery only once its last frame is in: the frames after an
    early settlement do not bring it back as a new, unsettled one."""
    tb, c = sender_link(credit=10)
    c.transfer("sender", 0, 0, more=True)
    c.accept("broker", 0)  # settled while its second frame is still on the way
    c.transfer("sender", 0, None, msg_id=1)
    c.transfer("sender", 0, 1, msg_id=2)
    c.close()
    (msg,) = only(tb.events, "settled-or-resent")
    assert msg.endswith("ids 2")


def test_resent_by_another_client_does_not_count():
    tb, c = sender_link(credit=10)
    c.transfer("sender", 0, 0, msg_id=1)
    c.cut()
    c2 = tb.conn("other")
    c2.open()
    c2.attach_pair("L", "sender")
    c2.s("flow", handle=0, delivery_count=0, link_credit=10)
    c2.transfer("other", 0, 0, msg_id=1)
    c2.accept("broker", 0)
    (msg,) = only(tb.events, "settled-or-resent")
    assert "ids 1" in msg


def _sender_conn(tb):
    c = tb.conn("sender")
    c.open()
    c.attach_pair("L", "sender")
    c.s("flow", handle=0, delivery_count=0, link_credit=10)
    return c


def test_only_a_later_connection_counts_as_resent():
    """Id 1 goes out on c1, c2 and c3; c2's copy is cut unsettled. c3 is later: not lost.
    Id 2 goes out on c1 (settled there) and c2 (cut unsettled), never after: lost on c2."""
    tb, c1 = sender_link(credit=10)
    c1.transfer("sender", 0, 0, msg_id=1)
    c1.transfer("sender", 0, 1, msg_id=2)
    c1.accept("broker", 1)
    c1.cut()
    c2 = _sender_conn(tb)
    c2.transfer("sender", 0, 0, msg_id=1)
    c2.transfer("sender", 0, 1, msg_id=2)
    c2.cut()
    c3 = _sender_conn(tb)
    c3.transfer("sender", 0, 0, msg_id=1)
    c3.accept("broker", 0)
    c3.close()
    (msg,) = only(tb.events, "settled-or-resent")
    assert "] c2: 1 unsettled message(s) from sender" in msg and msg.endswith("ids 2")


# ----------------------------------------------------------------------- check


def test_check_rules_skip_and_unknown():
    events = at_least_once_trace(resend=False)
    assert check(events, skip=["settled-or-resent"]) == []
    assert [v.rule for v in check(events)] == ["settled-or-resent"]
    v = check(events)[0]
    assert v.conn == "c1" and v.index is not None and v.t == events[v.index].t
    with pytest.raises(ValueError, match="unknown invariant 'credits'"):
        check(events, rules=["credits"])
    with pytest.raises(ValueError, match="known: open-first"):
        check(events, skip=["nope"])
    assert set(RULES) == {
        "open-first",
        "close-last",
        "credit",
        "session-window",
        "attach-answered",
        "dynamic-address",
        "delivery-id-order",
        "detach-before-close",
        "settled-or-resent",
        "settle-mode",
        "unsettled-receive",
    }


def test_check_caps_floods():
    tb, c = sender_link(credit=0)
    for i in range(MAX_PER_CONN + 7):
        c.transfer("sender", 0, i)
    vs = check(tb.events, rules=["credit"])
    assert len(vs) == MAX_PER_CONN + 1
    assert "... and 7 more credit violation(s)" in vs[-1].message


def test_violation_messages_are_one_line():
    events = at_least_once_trace(resend=False)
    for v in check(events):
        assert "\n" not in str(v)
    assert render_violations([]) == "no invariant violations"


def test_attach_excused_when_the_attaching_side_hangs_up_at_once():
    # a peer whose first link was refused closes at once, right after its next attach:
    # the broker had no chance to answer it (not "not answered within 0.0 s")
    for ending in ("close", "tcp"):
        tb = TraceBuilder(step=0.01)
        c = tb.conn("client")
        c.open()
        c.attach_pair("r", "receiver")
        c.s("detach", handle=0, closed=True, error={"condition": "amqp:invalid-field"})
        c.c("attach", name="s", handle=1, role="sender", target={"address": "q"})
        if ending == "close":
            c.close()
        else:
            tb.add(kind="conn", name="close", conn="c1", fields={"by": "client"})
        assert only(tb.events, "attach-answered") == [], ending


def test_a_quick_hang_up_without_a_refusal_still_counts():
    """Nothing refused: an attach the broker never answered is reported however soon the close."""
    tb = TraceBuilder(step=0.01)
    c = tb.conn("client")
    c.open()
    c.c("attach", name="reply", handle=0, role="receiver", source={"dynamic": True})
    c.close()
    assert len(only(tb.events, "attach-answered")) == 1
