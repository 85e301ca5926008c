import pathlib

import pytest

from harness.trace.jsonl import read_trace
from harness.trace.patterns import (
    Pattern,
    absent,
    any_of,
    any_order,
    assert_match,
    capture,
    conn,
    contains,
    forbid,
    frame,
    ge,
    gt,
    index_links,
    match,
    matches,
    ne,
    never,
    nonempty,
    not_,
    one_of,
    peer,
    present,
    ref,
)
from tests.trace.builders import (
    TraceBuilder,
    at_least_once_trace,
    hello_trace,
    request_response_trace,
)

HELLO = Pattern(
    "hello world handshake",
    [
        frame("open", src="hello"),
        any_order(  # the client pipelines its attach before the broker's open arrives
            frame("open", dst="hello"),
            frame("attach", src="hello", role="receiver", source__address=capture("queue")),
        ),
        frame("attach", dst="hello", role="sender"),  # the answer
        frame("attach", src="hello", role="sender", target__address=ref("queue")),
        never(frame("transfer", src="hello")),
        frame("flow", dst="hello", link_credit=gt(0)),
        frame("transfer", src="hello", message__body="Hello World!"),
        frame("disposition", dst="hello", state__type="accepted"),
        peer("hello", "message", body="Hello World!"),
        frame("close", src="hello"),
    ],
    client="hello",
)


def test_hello_matches_and_captures():
    events = hello_trace()
    result = match(HELLO, events)
    assert result.ok, result.explain()
    assert result.captures == {"queue": "examples"}
    assert result.view.startswith("c1")
    assert result.events[0].name == "open" and result.events[4] is None
    assert [e.name for e in result.events[1]] == ["open", "attach"]
    assert "matched on c1" in result.explain()


def test_sender_created_before_answer_is_explained():
    events = hello_trace(answer_first=False)
    result = match(HELLO, events)
    assert not result.ok
    text = result.explain()
    # the answer to the receiver attach came after the sender attach: step 5 is missing
    assert "matched 3 of 10 steps" in text
    assert ">>  4. frame attach src=hello role=sender target__address=ref(queue)" in text
    assert "out of order: it came earlier" in text
    assert "expected step 4" in text
    assert "came instead (next 5):" in text
    assert "trace stopped at:" in text and "connection closed by hello" in text
    assert "captured: queue='examples'" in text


def test_never_step_reports_the_offending_frame():
    tb = TraceBuilder()
    c = tb.conn("hello")
    c.open()
    c.attach_pair("s", "sender")
    c.transfer("hello", 0, 0, body="early")
    c.s("flow", handle=0, delivery_count=0, link_credit=5)
    p = Pattern(
        "credit first",
        [
            frame("attach", src="hello"),
            never(frame("transfer", src="hello")),
            frame("flow", dst="hello"),
        ],
    )
    result = match(p, tb.events)
    assert not result.ok
    text = result.explain()
    assert "step 2 violated: never frame transfer src=hello" in text
    assert "but came:" in text and "body='early'" in text
    assert "until" in text and "flow" in text


def test_trailing_never_runs_to_the_end():
    events = hello_trace()
    p = Pattern("no second open", [frame("open", src="hello"), never(frame("open", src="hello"))])
    assert match(p, events).ok
    p2 = Pattern("no detach after open", [frame("open", src="hello"), never(frame("detach"))])
    r = match(p2, events)
    assert not r.ok and "until the end" in r.explain()


def test_forbid_window_and_explanation():
    events = hello_trace()
    ok = forbid("no transfer before credit", frame("transfer"), before=frame("flow", dst="hello"))
    assert match(ok, events).ok
    bad = forbid("no attach after flow", frame("attach", src="hello"), after=frame("flow"))
    r = match(bad, events)
    assert not r.ok
    text = r.explain()
    assert 'forbidden "no attach after flow" happened on c1' in text
    assert "after  frame flow" in text and "name=send" in text
    # a window that never opens holds vacuously
    assert match(forbid("x", frame("open"), after=frame("sasl_init")), events).ok


def test_bare_never_forbids_everywhere():
    events = at_least_once_trace()
    assert match(never(frame("transfer", settled=True)), events).ok
    r = match(never(conn("cut")), events)
    assert not r.ok and "cut after transfer #3" in r.explain()


def test_connection_scope_needs_one_connection_trace_scope_spans():
    events = at_least_once_trace(count=5, cut_after=3)
    story = Pattern(
        "resend after cut",
        [
            frame("transfer", src="sender", message__id=3),
            conn("cut"),
            frame("open", src="sender"),
            frame("transfer", src="sender", message__id=2),
            frame("transfer", src="sender", message__id=3),
        ],
    )
    assert not match(story, events).ok
    r = match(story, events, scope="trace")
    assert r.ok, r.explain()


def test_restrict_by_client_label():
    events = hello_trace()
    r = match(HELLO, events, client="nobody")
    assert not r.ok
    assert "no connection with client nobody" in r.explain()
    assert "available: c1 hello->broker" in r.explain()
    assert match(HELLO, events, client=one_of("hello", "x")).ok


def test_best_connection_is_reported():
    events = at_least_once_trace()
    p = Pattern("four transfers", [frame("transfer", src="sender")] * 4)
    r = match(p, events)
    assert r.ok and r.view.startswith("c2")
    p5 = Pattern("five transfers", [frame("transfer", src="sender")] * 5)
    r = match(p5, events)
    assert not r.ok
    assert "on c2" in r.explain() and "best of 2 tried" in r.explain()
    assert "matched 4 of 5 steps" in r.explain()


def test_capture_backtracks_to_a_later_binding():
    tb = TraceBuilder()
    c = tb.conn("client")
    c.open()
    c.c("attach", name="a", handle=0, role="receiver", source={"address": "q1"})
    c.c("attach", name="b", handle=1, role="receiver", source={"address": "q2"})
    c.s("attach", name="b", handle=1, role="sender", source={"address": "q2"})
    p = Pattern(
        "answer to the same address",
        [
            frame("attach", src="client", source__address=capture("addr")),
            frame("attach", dst="client", source__address=ref("addr")),
        ],
    )
    r = match(p, tb.events)
    assert r.ok and r.captures == {"addr": "q2"}


def test_ref_of_unbound_capture_fails_and_bind_prebinds():
    events = hello_trace()
    p = Pattern("x", [frame("attach", source__address=ref("q"))])
    assert not match(p, events).ok
    assert match(p, events, bind={"q": "examples"}).ok


def test_predicates():
    events = request_response_trace("dyn-1")
    p = Pattern(
        "request response",
        [
            frame(
                "attach",
                src="client",
                role="receiver",
                source__dynamic=True,
                source__address=absent(),
            ),
            frame("attach", dst="client", source__address=capture("reply", nonempty())),
            frame("flow", src="client", link_credit=ge(1), drain=absent()),
            frame(
                "transfer",
                src="client",
                message__reply_to=ref("reply"),
                message__correlation_id=present(),
                message__body=matches("^tw"),
            ),
            frame(
                "transfer",
                dst="client",
                message__to=ref("reply"),
                message__body=any_of("TWAS", "twas"),
                handle=not_(5),
                delivery_id=ne(7),
            ),
            peer("client", "message", correlation_id="req-1"),
        ],
    )
    r = match(p, events)
    assert r.ok, r.explain()
    assert r.captures["reply"] == "dyn-1"


def test_contains_and_bool_is_not_int():
    tb = TraceBuilder()
    c = tb.conn("a")
    c.c("open", offered_capabilities=["ANONYMOUS-RELAY"], max_frame_size=1)
    assert match(
        Pattern("p", [frame("open", offered_capabilities=contains("ANONYMOUS-RELAY"))]), tb.events
    ).ok
    assert not match(Pattern("p", [frame("open", max_frame_size=True)]), tb.events).ok


def test_link_scope_follows_handles_and_dispositions():
    events = hello_trace()
    idx = index_links(events)
    names = sorted(i.name for i in idx.links.values())
    assert names == ["recv", "send"]
    send = next(i for i in idx.links.values() if i.name == "send")
    perfs = [events[i].name for i in send.indices]
    # both attaches, the broker's flow, the transfer, the broker's disposition, both detaches
    assert perfs == ["attach", "attach", "flow", "transfer", "disposition", "detach", "detach"]
    p = Pattern(
        "send link",
        [
            frame("attach", role="sender"),
            frame("flow"),
            frame("transfer"),
            frame("disposition", settled=True),
            frame("detach"),
        ],
        scope="link",
    )
    r = match(p, events, link="send")
    assert r.ok, r.explain()
    assert "link send on c1 (hello->broker)" in r.view
    # the receiver link's frames are not in the send link's scope
    p2 = Pattern("x", [frame("transfer", src="broker")], scope="link")
    assert not match(p2, events, link="send").ok
    assert match(p2, events, link="recv").ok


def test_link_scope_with_two_sessions_and_ranges():
    tb = TraceBuilder()
    c = tb.conn("s")
    c.open()
    c.c("begin", channel=1, next_outgoing_id=0)
    c.s("begin", channel=3, remote_channel=1)
    c.c("attach", channel=1, name="L", handle=0, role="sender", target={"address": "q"})
    c.s("attach", channel=3, name="L", handle=4, role="receiver", target={"address": "q"})
    c.s("flow", channel=3, handle=4, link_credit=10, delivery_count=0)
    c.c("transfer", channel=1, handle=0, delivery_id=0, more=True)
    c.c("transfer", channel=1, handle=0, more=False)
    c.c("transfer", channel=1, handle=0, delivery_id=1)
    c.s("disposition", channel=3, role="receiver", first=0, last=1, settled=True)
    c.s("disposition", channel=0, role="receiver", first=0, last=1, settled=True)  # other session
    idx = index_links(tb.events)
    (info,) = idx.links.values()
    assert [tb.events[i].name for i in info.indices].count("transfer") == 3
    assert [tb.events[i].name for i in info.indices].count("disposition") == 1
    assert [tb.events[i].name for i in info.indices].count("flow") == 1


def test_assert_match_raises_with_explanation():
    with pytest.raises(AssertionError, match="did not match"):
        assert_match(Pattern("p", [frame("sasl_init")]), hello_trace())


def test_bad_pattern_definitions():
    with pytest.raises(ValueError, match="scope"):
        Pattern("p", [frame("open")], scope="session")
    with pytest.raises(TypeError):
        Pattern("p", ["open"])
    with pytest.raises(ValueError, match="positive"):
        Pattern("p", [never(frame("open"))])
    with pytest.raises(ValueError, match="scope"):
        match(Pattern("p", [frame("open")]), [], scope="nope")


def test_describe_reads_like_the_handshake():
    text = HELLO.describe()
    assert "2. any order:" in text
    assert "   frame attach src=hello role=receiver source__address=capture(queue)" in text
    assert "5. never frame transfer src=hello" in text
    assert "6. frame flow dst=hello link_credit=>0" in text


DATA = pathlib.Path(__file__).parent / "data"


@pytest.mark.parametrize("impl", ["python", "js"])
def test_hello_matches_recorded_traces(impl):
    # recorded through the tap: the peer pipelines open/begin/attach/flow before the broker's open
    events = read_trace(DATA / f"hello-{impl}.jsonl")
    result = match(HELLO, events)
    assert result.ok, result.explain()
    strict = Pattern(
        "strict order", [frame("open", dst="hello"), frame("attach", src="hello", role="receiver")]
    )
    assert not match(strict, events).ok


def test_any_order_group_missing_member_is_named():
    events = hello_trace()
    p = Pattern(
        "group",
        [frame("open"), any_order(frame("begin", src="hello"), frame("sasl_init")), frame("close")],
    )
    r = match(p, events)
    assert not r.ok
    text = r.explain()
    assert "expected step 2 (any order group): frame sasl_init" in text
    assert ">>  2. any order:" in text
    with pytest.raises(TypeError):
        any_order("open")


def test_never_before_an_any_order_group():
    events = hello_trace()
    p = Pattern(
        "no flow before both attaches",
        [
            frame("open", src="hello"),
            never(frame("flow")),
            any_order(frame("attach", src="hello"), frame("attach", dst="hello")),
        ],
    )
    assert match(p, events).ok
    p2 = Pattern(
        "no flow before the sender attach",
        [
            frame("open", src="hello"),
            never(frame("flow")),
            any_order(frame("attach", src="hello", role="sender")),
        ],
    )
    r = match(p2, events)
    assert not r.ok and "step 2 violated" in r.explain()


def test_attach_name_is_a_field_not_the_performative():
    events = hello_trace()
    assert match(Pattern("p", [frame("attach", name="send", role="sender")]), events).ok
    assert not match(Pattern("p", [frame("attach", name="nope")]), events).ok
