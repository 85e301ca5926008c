"""The hello world trace, read from the wire through the tap, shows the tutorial's order.

One connection: open, begin, the receiver's attach and the broker's answer,
the sender's attach only after that answer, the broker's flow, the transfer,
its disposition, then the detaches and the close, in that order.
"""

from __future__ import annotations

import harness.scenarios as scenarios
import pytest

from harness.cells import Cell
from harness.expect import attach
from harness.peers import PeerRegistry
from harness.pipeline import RunOptions, run_cell
from harness.trace.jsonl import read_trace
from harness.trace.patterns import Pattern, capture, frame, gt, match, ref

ORDER = Pattern(
    "hello world, in order on one connection",
    [
        frame("open", src="hello"),
        frame("begin", src="hello"),
        attach(src="hello", role="receiver", link=capture("r")),
        attach(dst="hello", link=ref("r")),
        attach(src="hello", role="sender", link=capture("s")),
        attach(dst="hello", role="receiver"),
        frame("flow", dst="hello", link_credit=gt(0)),
        frame("transfer", src="hello", message__body="Hello World!"),
        frame("disposition", dst="hello", state__type="accepted"),
        frame("detach", src="hello"),
        frame("close", src="hello"),
    ],
)


@pytest.mark.parametrize("impl", ["python", "cpp", "js"])
def test_hello_world_trace_order(impl, embedded_broker, tmp_path):
    registry = PeerRegistry()
    reason = registry.get(impl).unavailable()
    if reason:
        from harness.env import require

        require(f"peer {impl}: {reason}")
    sc = scenarios.select(["hello-world"])[0]
    cell = Cell(sc, sc.fault("none"), (("hello", impl),), "embedded")
    result = run_cell(cell, embedded_broker, registry, RunOptions(out_dir=tmp_path))
    assert result.verdict == "pass", result.reason
    events = read_trace(tmp_path / result.artifacts / "trace.jsonl")
    conns = {e.conn for e in events if e.kind == "frame"}
    assert len(conns) == 1, conns  # one connection
    got = match(ORDER, events, client="hello")
    assert got.ok, got.explain()
