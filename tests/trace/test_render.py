from harness.trace.model import TraceEvent
from harness.trace.render import render_event, render_trace
from tests.trace.builders import TraceBuilder, at_least_once_trace, hello_trace


def test_frame_lines_keep_the_fields_that_matter():
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.c(
        "attach",
        name="L",
        handle=0,
        role="receiver",
        source={"address": "examples"},
        target={"address": None},
        unsettled=None,
    )
    c.s(
        "flow",
        handle=0,
        link_credit=10,
        delivery_count=0,
        next_incoming_id=0,
        incoming_window=2048,
        drain=False,
    )
    lines = render_trace(tb.events).splitlines()
    assert lines[1] == (
        "  0.002 c1 sender->broker   attach      name=L handle=0 role=receiver "
        "source=examples target=<no address>"
    )
    assert lines[2] == "  0.003 c1 broker->sender   flow        handle=0 credit=10 delivery_count=0"


def test_transfer_shows_message_and_peer_events_and_cut():
    events = at_least_once_trace()
    text = render_trace(events)
    assert "transfer    handle=0 id=0 msg_id=1 body={'sequence': 1}" in text
    assert "** cut after transfer #3 from sender" in text
    assert "peer sender  disconnected reason='connection reset'" in text


def test_dynamic_source_and_states():
    tb = TraceBuilder()
    c = tb.conn("client")
    c.c("attach", name="r", handle=0, role="receiver", source={"address": None, "dynamic": True})
    c.s(
        "disposition",
        role="receiver",
        first=0,
        settled=True,
        state={"type": "rejected", "error": {"condition": "amqp:not-found"}},
    )
    c.s(
        "detach",
        handle=0,
        closed=True,
        error={"condition": "amqp:not-found", "description": "no such queue"},
    )
    text = render_trace(tb.events)
    assert "source=<dynamic>" in text
    assert "state=rejected(amqp:not-found)" in text
    assert "error=amqp:not-found: 'no such queue'" in text


def test_filter_by_connection():
    events = at_least_once_trace()
    text = render_trace(events, conn="c2")
    assert " c1 " not in text
    assert " c2 " in text


def test_other_kinds_render_on_one_line():
    for e in [
        TraceEvent(t=1.0, kind="header", name="sasl", conn="c1", src="a", dst="b"),
        TraceEvent(t=1.0, kind="harness", name="broker-restart", fields={"after": 3}),
        TraceEvent(t=1.0, kind="conn", name="close", conn="c1", fields={"by": "broker"}),
        TraceEvent(t=1.0, kind="frame", name="mystery", conn="c1", fields={"x": 1}),
        TraceEvent(t=1.0, kind="other", name="x"),
    ]:
        line = render_event(e)
        assert "\n" not in line and line.startswith("  1.000")


def test_hello_renders_every_event():
    events = hello_trace()
    assert len(render_trace(events).splitlines()) == len(events)
