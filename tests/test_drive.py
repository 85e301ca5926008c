"""The drive stage: a cell goes on when its peers end, and a hopeless peer is stopped with a reason.

Why: a cell must not wait for a poll tick or a peer's own timeout when the
outcome is already decided, yet the verdict must still say what went
wrong: a connecting peer that outlives its listener, or a peer silent after
every other one ended, fails the cell with its own rule.
"""

from __future__ import annotations

import json
import sys
import time

import harness.scenarios as scenarios

from harness import drive
from harness.cells import DIRECT, Cell
from harness.matrix.results import FAIL, PASS
from harness.peers import Implementation, PeerRegistry
from harness.pipeline import RunOptions, run_cell

SILENT = [sys.executable, "-c", "import time; time.sleep(600)"]
# prints a ready line with an address nothing listens on, then ends well at once
GONE = [
    sys.executable,
    "-c",
    "import json; print(json.dumps({'kind': 'ready', 'url': 'amqp://127.0.0.1:9'})); "
    "print(json.dumps({'kind': 'result', 'ok': True, 'received': 10}))",
]
READY_THEN_SILENT = [
    sys.executable,
    "-c",
    "import json, time; print(json.dumps({'kind': 'ready', 'url': 'x'}), flush=True); "
    "time.sleep(600)",
]


def _cell(name: str, roles: dict[str, str], broker: str = "embedded") -> Cell:
    sc = scenarios.select([name])[0]
    return Cell(sc, sc.fault("none"), tuple(roles.items()), broker)


def _failures(tmp_path, res) -> list[dict]:
    return json.loads((tmp_path / res.artifacts / "verdict.json").read_text())["failures"]


def test_a_connecting_peer_that_outlives_its_listener_is_stopped(tmp_path, monkeypatch):
    """Stopped, not failed for it: what it reports and the outcome checks decide the cell."""
    monkeypatch.setattr(drive, "ORPHAN_GRACE_S", 0.5)
    registry = PeerRegistry(
        [Implementation("gone", command=GONE), Implementation("silent", command=SILENT)]
    )
    cell = _cell("direct", {"sender": "silent", "receiver": "gone"}, DIRECT)
    t0 = time.monotonic()
    res = run_cell(cell, None, registry, RunOptions(out_dir=tmp_path, timeout=20.0))
    assert time.monotonic() - t0 < 10, "stopped long before the cell's 20 s deadline"
    assert res.verdict == FAIL
    rules = [f["rule"] for f in _failures(tmp_path, res)]
    assert "direct-outcome" in rules, rules  # the sender confirmed nothing
    assert not {"outlived-listener", "peer-timeout", "cell-timeout"} & set(rules), rules
    trace = (tmp_path / res.artifacts / "trace.jsonl").read_text()
    assert '"because": "outlived-listener"' in trace


def test_a_peer_silent_after_the_others_ended_is_stopped_as_stalled(
    embedded_broker, tmp_path, monkeypatch
):
    monkeypatch.setattr(drive, "STALL_S", 0.5)
    registry = PeerRegistry([Implementation("hang", command=READY_THEN_SILENT)])
    cell = _cell("at-least-once", {"sender": "python", "receiver": "hang"})
    t0 = time.monotonic()
    res = run_cell(
        cell, embedded_broker, registry, RunOptions(out_dir=tmp_path, timeout=30.0, count=5)
    )
    assert time.monotonic() - t0 < 15, "stopped long before the cell's 30 s deadline"
    assert res.verdict == FAIL
    failures = _failures(tmp_path, res)
    stalled = [f for f in failures if f["rule"] == "peer-stalled"]
    assert stalled and "receiver (hang) printed nothing" in stalled[0]["message"], failures
    assert failures[0]["rule"] != "peer-stalled", "what the peer got wrong leads"


def test_a_passing_cell_records_where_its_time_went(embedded_broker, tmp_path):
    reg = PeerRegistry()
    cell = _cell("at-least-once", {"sender": "python", "receiver": "python"})
    res = run_cell(cell, embedded_broker, reg, RunOptions(out_dir=tmp_path, count=20))
    assert res.verdict == PASS, res.reason
    timings = json.loads((tmp_path / res.artifacts / "verdict.json").read_text())["timings"]
    assert set(timings["stages"]) == {
        "plan",
        "broker-lease",
        "broker-setup",
        "listeners",
        "taps",
        "peers",
        "drive",
        "teardown",
        "artifacts",
        "checks",
        "verdict",
    }
    assert set(timings["stages_cpu"]) == set(timings["stages"])
    assert 0 < timings["peers_s"] < res.duration_s
    assert timings["overhead_s"] >= 0
    assert abs(timings["peers_s"] + timings["overhead_s"] - res.duration_s) < 0.5


class _DeadBroker:
    """Stands for a broker under test whose process ended during the cell."""

    name = "rabbitmq"
    ours = False

    def exited(self) -> str:
        return "node rabbit@x exited with status 137"


def test_a_broker_under_test_that_dies_fails_the_cell_and_stops_its_peers(tmp_path):
    from harness.cell_state import CellState

    sc = scenarios.select(["hello-world"])[0]
    cell = Cell(sc, sc.fault("none"), (("hello", "python"),), "rabbitmq")
    st = CellState.new(cell, PeerRegistry(), RunOptions(out_dir=tmp_path))
    st.broker = _DeadBroker()  # type: ignore[assignment]
    assert drive._broker_exited(st) is True
    (failure,) = st.failures
    assert failure.rule == "broker-exited"
    assert "broker rabbitmq node rabbit@x exited with status 137" in failure.message
    assert any(e.name == "broker-exited" for e in st.trace.sorted())
