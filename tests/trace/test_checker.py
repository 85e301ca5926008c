"""The streaming checker: one pass, one event at a time, and nothing kept per message."""

from harness.trace.invariants import DEFAULT_RULES, RULES, Checker, check
from tests.trace.builders import at_least_once_trace
from tests.trace.test_invariants import _sender_conn, sender_link

EVERY_RULE = list(RULES)


def _long_sender(n: int):
    """A sender link that sends ``n`` messages, each accepted, with credit topped up."""
    tb, c = sender_link(credit=n)
    for k in range(n):
        c.transfer("sender", 0, k, msg_id=k)
        c.accept("broker", k)
    c.close()
    return tb.events


def test_events_fed_one_at_a_time_give_what_check_gives():
    events = at_least_once_trace(count=8, cut_after=3, resend=False)
    events += _long_sender(5)[:4]  # a second trace's start: its attach never answered ...
    checker = Checker(EVERY_RULE)
    for e in events:
        checker.feed(e)
    fed = checker.finish()
    assert [v.rule for v in fed] == [v.rule for v in check(events, rules=EVERY_RULE)]
    assert fed == check(iter(events), rules=EVERY_RULE)  # any iterable: no list, no len
    assert {v.rule for v in fed} >= {"settled-or-resent"}


def test_what_the_checker_keeps_does_not_grow_with_the_messages():
    kept = []
    for n in (50, 2000):
        checker = Checker(list(DEFAULT_RULES) + ["unsettled-receive"])
        checker.feed_all(_long_sender(n))
        by_id = {r.id: r for r in checker.rules}
        resent = by_id["settled-or-resent"]
        kept.append(
            (
                len(checker.ctx.story or {}),  # opens, attaches, closes: never a transfer
                sum(len(c.unsettled) for c in resent.conns.values()),
                len(resent.holders),
                len(by_id["credit"].state),
            )
        )
        assert checker.finish() == []
    assert kept[0] == kept[1]
    assert kept[1][1:] == (0, 0, 1)


def test_an_id_a_later_connection_sent_first_is_not_lost():
    """c2 opens while c1 is still up and sends id 7 (accepted); c1 then sends id 7 and
    is cut before any settlement: a later connection carried it, so nothing is lost."""
    tb, c1 = sender_link(credit=10)
    c2 = _sender_conn(tb)
    c2.transfer("sender", 0, 0, msg_id=7)
    c2.accept("broker", 0)
    c1.transfer("sender", 0, 0, msg_id=7)
    c1.cut()
    c2.close()
    assert check(tb.events, rules=["settled-or-resent"]) == []


def test_an_id_sent_twice_on_one_connection_then_resent_is_not_lost():
    tb, c1 = sender_link(credit=10)
    c1.transfer("sender", 0, 0, msg_id=1)
    c1.transfer("sender", 0, 1, msg_id=1)  # the same message again, both unsettled
    c1.cut()
    c2 = _sender_conn(tb)
    c2.transfer("sender", 0, 0, msg_id=1)
    c2.accept("broker", 0)
    c2.close()
    assert check(tb.events, rules=["settled-or-resent"]) == []


def test_a_flood_is_capped_per_connection_while_it_streams():
    tb, c = sender_link(credit=1)
    for k in range(30):  # 29 transfers beyond the one credit granted
        c.transfer("sender", 0, k)
    found = check(tb.events, rules=["credit"])
    assert len(found) == 11 and "... and 19 more credit violation(s)" in found[-1].message


def test_only_the_story_rules_keep_a_story():
    assert Checker(["credit", "settled-or-resent"]).ctx.story is None
    assert Checker(DEFAULT_RULES).ctx.story == {}
