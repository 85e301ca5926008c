"""The messages-over-time chart of a cell page.

Why: for an at-least-once cell, a stall, a lost tail or the resends after a
cut show at a glance in three curves; the chart must count what the peers
reported and mark where the connection was cut.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.trace.progress import progress_svg, series
from tests.trace.builders import TraceBuilder, hello_trace


def _cut_run():
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.open()
    for i in range(1, 11):
        tb.peer("sender", "sent", id=i)
        if i <= 4:
            tb.peer("sender", "accepted", id=i)
            tb.peer("receiver", "message", id=i, duplicate=False)
        if i == 6:
            c.cut("cut after transfer #6 from sender")
            tb.peer("sender", "disconnected", reason="reset")
    tb.peer("receiver", "message", id=4, duplicate=True)
    return tb.events


def test_series_count_what_the_peers_reported():
    data = series(_cut_run())
    assert {k: len(v) for k, v in data.items()} == {"sent": 10, "confirmed": 4, "received": 4}


def test_chart_has_three_curves_and_marks_the_cut():
    svg = progress_svg(_cut_run())
    root = ET.fromstring(svg)
    lines = {p.get("class") for p in root.iter("polyline")}
    assert lines == {"series-sent", "series-confirmed", "series-received"}
    marks = ["".join(g.itertext()) for g in root.iter("g") if g.get("class") == "mark"]
    assert any("cut c1" in m for m in marks) and any("sender disconnected" in m for m in marks)
    assert "sent 10" in "".join(root.itertext()) and "http" not in svg


def test_no_chart_for_a_handful_of_messages():
    assert progress_svg(hello_trace()) is None
