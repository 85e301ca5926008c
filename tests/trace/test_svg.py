import pathlib
import xml.etree.ElementTree as ET

from harness.trace.jsonl import read_trace
from harness.trace.svg import arrow_label, render_svg
from tests.trace.builders import TraceBuilder, at_least_once_trace, hello_trace

NS = "{http://www.w3.org/2000/svg}"
DATA = pathlib.Path(__file__).parent / "data"


def groups(svg, cls):
    root = ET.fromstring(svg)
    return [g for g in root.iter(f"{NS}g") if g.get("class") == cls]


def test_well_formed_with_an_arrow_per_frame():
    events = at_least_once_trace()
    svg = render_svg(events, title="at-least-once")
    frames = [e for e in events if e.kind == "frame"]
    arrows = groups(svg, "frame")
    assert len(arrows) == len(frames)
    assert all(g.find(f"{NS}line") is not None for g in arrows)
    assert len(groups(svg, "peer")) == sum(1 for e in events if e.kind == "peer")
    (cut,) = groups(svg, "cut")
    assert "cut after transfer #3" in "".join(cut.itertext())
    # full decoded line on hover
    assert arrows[0].find(f"{NS}title").text.strip().startswith("0.0")


def test_lifelines_put_the_broker_between_clients():
    tb = TraceBuilder()
    r = tb.conn("receiver")
    r.open()
    s = tb.conn("sender")
    s.open()
    root = ET.fromstring(render_svg(tb.events))
    lanes = [t.text for t in root.iter(f"{NS}text") if t.get("class") == "lane"][1:]
    assert lanes == ["receiver", "broker", "sender"]


def test_special_characters_are_escaped():
    tb = TraceBuilder()
    c = tb.conn("a<b")
    c.open()
    c.transfer("a<b", 0, 0, msg_id="<&>", body="x & y < z")
    tb.peer("a<b", "message", body='"quoted" <tag> & more')
    tb.harness("fault", rule="delay <1s> & cut")
    ET.fromstring(render_svg(tb.events, title="t & <u>"))


def test_filters_and_empty_trace():
    events = at_least_once_trace()
    only_c2 = render_svg(events, conn="c2")
    assert len(groups(only_c2, "frame")) == sum(
        1 for e in events if e.kind == "frame" and e.conn == "c2"
    )
    tb = TraceBuilder()
    c = tb.conn("a")
    c.c("empty")
    c.c("open")
    assert len(groups(render_svg(tb.events, skip_empty=True), "frame")) == 1
    ET.fromstring(render_svg([]))


def test_recorded_trace_of_two_hundred_events_scrolls_vertically():
    events = read_trace(DATA / "alo-python.jsonl")
    assert len(events) > 200
    svg = render_svg(events)
    root = ET.fromstring(svg)
    width, height = int(root.get("width")), int(root.get("height"))
    assert height > 20 * len(events) and width < 1000
    assert len(groups(svg, "frame")) == sum(1 for e in events if e.kind == "frame")


def test_arrow_labels_name_the_key_field():
    events = hello_trace()
    labels = [arrow_label(e) for e in events if e.kind == "frame"]
    assert "attach receiver examples" in labels
    assert "flow credit=10" in labels
    assert "transfer #0" in labels
    assert "disposition 0 accepted" in labels
    tb = TraceBuilder()
    c = tb.conn("x")
    e1 = c.c("attach", name="r", handle=0, role="receiver", source={"dynamic": True})
    e2 = c.c("detach", handle=0, error={"condition": "amqp:not-found"})
    e3 = c.c("disposition", role="receiver", first=2, last=5, state={"type": "released"})
    assert arrow_label(e1) == "attach receiver <dynamic>"
    assert arrow_label(e2) == "detach h=0 amqp:not-found"
    assert arrow_label(e3) == "disposition 2..5 released"
