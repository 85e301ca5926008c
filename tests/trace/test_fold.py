"""Long traces folded on the diagram, and highlighted events on it.

Why: a 1,000-message cell drawn one event per row is tens of thousands of
pixels tall and hides its handshake, cut and recovery; the folded diagram
keeps those and counts what it hides. A failure's event must stay visible
(never folded) and carry an id a page can link to.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.trace.fold import Fold, fold_rows, routine
from harness.trace.model import FRAME
from harness.trace.svg import render_svg
from tests.trace.builders import TraceBuilder, at_least_once_trace

NS = "{http://www.w3.org/2000/svg}"


def _many(n: int = 500):
    """A sender that connects, gets credit, sends n messages, each accepted, then closes."""
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.open()
    c.attach_pair("s", "sender")
    c.s("flow", handle=0, delivery_count=0, link_credit=n)
    for i in range(n):
        c.transfer("sender", 0, i, msg_id=i + 1, body={"sequence": i + 1})
        tb.peer("sender", "sent", id=i + 1)
        c.accept("broker", i)
        tb.peer("sender", "accepted", id=i + 1)
    c.c("detach", handle=0, closed=True)
    c.s("detach", handle=0, closed=True)
    c.close()
    return tb.events


def test_routine_stretches_fold_and_the_story_stays():
    events = _many()
    rows = fold_rows(events)
    folds = [r for r in rows if isinstance(r, Fold)]
    assert len(folds) == 1 and len(rows) < 40
    (f,) = folds
    assert f.size == 4 * 500 + 1 - 6  # the flow and the messages, but the first 3 and last 3
    assert dict(f.counts)["transfer sender→broker"] >= 497
    assert f.label().startswith(f"{f.size:,} events folded: ")
    # every event is a row or inside exactly one fold, in order
    covered = []
    for r in rows:
        covered += list(range(r.first, r.last + 1)) if isinstance(r, Fold) else [r]
    assert covered == list(range(len(events)))
    kept = {events[r].name for r in rows if isinstance(r, int) and events[r].kind == FRAME}
    assert {"open", "begin", "attach", "detach", "close"} <= kept


def test_kept_events_and_their_neighbours_are_never_folded():
    events = _many()
    keep = 1001
    rows = fold_rows(events, keep=[keep], context=2)
    assert all(i in rows for i in range(keep - 2, keep + 3))
    assert sum(isinstance(r, Fold) for r in rows) == 2


def test_short_traces_and_errors_are_not_folded():
    events = at_least_once_trace()
    assert fold_rows(events) == list(range(len(events)))
    tb = TraceBuilder()
    c = tb.conn("x")
    bad = c.c("disposition", role="receiver", first=0, state={"type": "rejected"})
    assert not routine(bad)


def test_the_folded_diagram_is_short_and_marks_its_highlights():
    events = _many()
    full = ET.fromstring(render_svg(events))
    folded_svg = render_svg(
        events, fold=True, highlight={1001: ("failed", "✗ failure 1"), 20: ("matched", "")}
    )
    folded = ET.fromstring(folded_svg)
    assert int(folded.get("height")) * 20 < int(full.get("height"))
    spots = {g.get("id"): g.get("class") for g in folded.iter(f"{NS}g") if g.get("id")}
    assert spots == {"ev1001": "spot spot-failed", "ev20": "spot spot-matched"}
    [fail] = [g for g in folded.iter(f"{NS}g") if g.get("id") == "ev1001"]
    assert "✗ failure 1" in "".join(fail.itertext())
    texts = [g for g in folded.iter(f"{NS}g") if g.get("class") == "folded"]
    assert texts and "events folded" in "".join(texts[0].itertext())


def test_inline_svg_has_no_namespace_url():
    svg = render_svg(at_least_once_trace(), inline=True)
    assert svg.startswith("<svg ") and "http" not in svg
    ET.fromstring(svg)
