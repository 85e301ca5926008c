"""A cell whose trace spills to disk is judged as one held in memory.

Why: a long cell (100,000 messages) keeps its trace on disk
(harness.trace.spool), decodes frames while it forwards them, and its
patterns read the trace's story (harness.trace.story). The verdicts must
not change with that: the reference peers still pass, a broken peer still
fails naming its rule, and no page of the spool outlives the cell.
Here the spill threshold is lowered so that a 200-message cell spills.
"""

from __future__ import annotations

import json
import sys

import harness.scenarios as scenarios
import pytest

from harness import pipeline, resources
from harness.cells import Cell
from harness.matrix.results import FAIL, PASS
from harness.peers import Implementation, PeerRegistry
from harness.pipeline import RunOptions, run_cell
from harness.trace import spool

BROKEN = resources.peer_file("python", "broken.py")


@pytest.fixture
def spilling(monkeypatch):
    """Every cell spills its trace after 300 events and decodes while forwarding."""
    monkeypatch.setattr(spool, "SPILL_OVER", 300)
    monkeypatch.setattr(pipeline, "LIVE_DECODE_FROM", 1)
    seen = []
    original = pipeline.artifacts.write_run_artifacts

    def watch(st):
        seen.append(isinstance(st.events, spool.MergedTrace))
        original(st)

    monkeypatch.setattr(pipeline.artifacts, "write_run_artifacts", watch)
    return seen


def _cell(fault: str, sender: str = "python") -> Cell:
    sc = scenarios.select(["at-least-once"])[0]
    return Cell(sc, sc.fault(fault), (("sender", sender), ("receiver", "python")), "embedded")


def _verdict(tmp_path, res) -> dict:
    return json.loads((tmp_path / res.artifacts / "verdict.json").read_text())


def test_a_spilled_cell_passes_and_leaves_no_spool(spilling, embedded_broker, tmp_path):
    res = run_cell(_cell("cut1"), embedded_broker, PeerRegistry(), RunOptions(tmp_path, count=200))
    assert spilling == [True]
    assert res.verdict == PASS, res.reason
    folder = tmp_path / res.artifacts
    assert not (folder / ".trace-spool").exists()
    assert (folder / "trace.jsonl").stat().st_size > 0
    figures = _verdict(tmp_path, res)["figures"]
    assert figures["frames"] > 600 and figures["connections"] >= 3  # two legs and a reconnect


@pytest.mark.parametrize(
    "which,fault,rule",
    [("no-resend", "cut1", "settled-or-resent"), ("send-before-credit", "none", "credit")],
)
def test_a_spilled_cell_still_fails_a_broken_peer(
    which, fault, rule, spilling, embedded_broker, tmp_path
):
    impl = Implementation(
        "broken", roles=frozenset({"send"}), command=[sys.executable, str(BROKEN), which]
    )
    registry = PeerRegistry([impl])
    opts = RunOptions(out_dir=tmp_path, count=200, timeout=12.0)
    res = run_cell(_cell(fault, "broken"), embedded_broker, registry, opts)
    assert spilling == [True]
    assert res.verdict == FAIL, res
    assert rule in [f["rule"] for f in _verdict(tmp_path, res)["failures"]]
    assert not (tmp_path / res.artifacts / ".trace-spool").exists()
