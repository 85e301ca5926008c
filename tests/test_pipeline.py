"""The cell pipeline: a harness fault in any stage is an ``error`` naming the stage, never a ``fail``.

Why: a user must be able to tell a broken broker or peer from a broken
harness. An exception planted in each stage must give verdict ``error``, a
reason that names the stage, the traceback in ``error.txt``, every process
stopped, and on disk whatever the stages before it produced.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import harness.scenarios as scenarios
import pytest

from harness import pipeline
from harness.broker_pool import BrokerLease, BrokerPool
from harness.brokers.embedded import EmbeddedBroker
from harness.cell_state import RunOptions
from harness.cells import Cell, generate
from harness.fault_plans import FaultPlan
from harness.matrix.results import ERROR, FAIL, PASS, SKIPPED, UNSUPPORTED
from harness.peers import PeerRegistry
from harness.process import live_processes

#: files each stage leaves behind (beyond verdict.json and error.txt, always written)
LEFT_BY = {
    "peers": {"hello.stderr.txt"},
    "drive": {"hello.stderr.txt"},
    "teardown": {"hello.stderr.txt"},
    "artifacts": {"hello.stderr.txt"},
    "checks": {
        "hello.stderr.txt",
        "hello.stdout.jsonl",
        "trace.jsonl",
        "trace.txt",
        "commands.txt",
    },
    "verdict": {
        "hello.stderr.txt",
        "hello.stdout.jsonl",
        "trace.jsonl",
        "trace.txt",
        "commands.txt",
    },
}


class Planted(Exception):
    pass


def _hello_cell():
    reg = PeerRegistry()
    [cell] = generate(scenarios.select(["hello-world"]), [reg.get("python")], ["embedded"])
    return reg, cell


def _plant(monkeypatch, name: str, after: bool) -> None:
    """Make stage ``name`` raise (after doing its work, when ``after``)."""

    def boom(st):
        if after:
            original(st)
        raise Planted(f"planted in {name}")

    stages = list(pipeline.STAGES)
    i = next(i for i, s in enumerate(stages) if s.name == name)
    original = stages[i].run
    stages[i] = replace(stages[i], run=boom)
    monkeypatch.setattr(pipeline, "STAGES", tuple(stages))


STAGE_NAMES = [s.name for s in pipeline.STAGES]


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_an_exception_in_any_stage_is_an_error_naming_it(
    stage, tmp_path, monkeypatch, embedded_broker
):
    reg, cell = _hello_cell()
    # the work of stages that produce something (peers, drive...) is done before the raise
    _plant(monkeypatch, stage, after=stage not in ("plan", "broker-lease", "broker-setup"))
    before = set(map(id, live_processes()))  # brokers of other tests in this worker live on
    res = pipeline.run_cell(cell, embedded_broker, reg, RunOptions(out_dir=tmp_path))

    assert res.verdict == ERROR, res
    assert res.reason.startswith(f"error in stage {stage}: Planted: planted in {stage}")
    folder = tmp_path / res.artifacts
    error = (folder / "error.txt").read_text()
    assert "Traceback" in error and "Planted" in error
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["verdict"] == "error" and verdict["rerun"]
    present = {p.name for p in folder.iterdir()}
    assert LEFT_BY.get(stage, set()) <= present, present
    peers = [p for p in live_processes() if p.running() and id(p) not in before]
    assert not peers, "a peer outlived its cell"


def test_an_exception_before_any_peer_leaves_no_peer_output(tmp_path, monkeypatch, embedded_broker):
    reg, cell = _hello_cell()
    _plant(monkeypatch, "broker-setup", after=False)
    res = pipeline.run_cell(cell, embedded_broker, reg, RunOptions(out_dir=tmp_path))
    assert res.verdict == ERROR
    names = {p.name for p in (tmp_path / res.artifacts).iterdir()}
    assert "hello.stderr.txt" not in names and {"verdict.json", "error.txt"} <= names


def test_a_broker_that_does_not_start_is_a_fail_with_artifacts_and_a_rerun(tmp_path, monkeypatch):
    """Issue 19: a cell that never ran still gets its folder, verdict.json and a rerun command."""
    monkeypatch.setenv("CI", "false")
    reg, cell = _hello_cell()

    class Pool:
        def lease(self, spec: str) -> BrokerLease:
            return BrokerLease(spec, error=f"broker {spec} did not start: boom")

    res = pipeline.run_cell(cell, Pool(), reg, RunOptions(out_dir=tmp_path))
    assert res.verdict == FAIL and res.rule == "broker" and "boom" in res.reason
    assert res.rerun and "--cell" in res.rerun
    verdict = json.loads((tmp_path / res.artifacts / "verdict.json").read_text())
    assert verdict["verdict"] == "fail" and "boom" in verdict["reason"]


@pytest.mark.parametrize("ci,verdict", [(False, SKIPPED), (True, FAIL)])
def test_an_unavailable_broker_is_a_skip_on_a_laptop_and_a_fail_in_ci(
    tmp_path, monkeypatch, ci, verdict
):
    monkeypatch.setenv("CI", "true" if ci else "false")
    reg, cell = _hello_cell()

    class Pool:
        def lease(self, spec: str) -> BrokerLease:
            return BrokerLease(spec, error="no docker here", unavailable=True)

    res = pipeline.run_cell(cell, Pool(), reg, RunOptions(out_dir=tmp_path))
    assert res.verdict == verdict
    assert (tmp_path / res.artifacts / "verdict.json").exists()


def test_a_plan_needing_what_the_broker_lacks_is_unsupported_without_running(
    tmp_path, embedded_broker
):
    reg = PeerRegistry()
    [cell] = generate(scenarios.select(["hello-world"]), [reg.get("python")], ["embedded"])
    cell = replace(cell, fault=FaultPlan("needy", needs=frozenset({"teleport"})))
    res = pipeline.run_cell(cell, embedded_broker, reg, RunOptions(out_dir=tmp_path))
    assert (
        res.verdict == UNSUPPORTED and "teleport" in res.reason and "fault plan needy" in res.reason
    )
    assert not (tmp_path / res.artifacts / "hello.stderr.txt").exists()


def test_a_scenario_needing_what_the_broker_lacks_is_unsupported(tmp_path, embedded_broker):
    reg = PeerRegistry()
    [cell] = generate(scenarios.select(["hello-world"]), [reg.get("python")], ["embedded"])
    sc = replace(cell.scenario, broker_needs=frozenset({"teleport"}))
    res = pipeline.run_cell(
        replace(cell, scenario=sc), embedded_broker, reg, RunOptions(out_dir=tmp_path)
    )
    assert res.verdict == UNSUPPORTED and "scenario hello-world" in res.reason


def test_a_passing_cell_goes_through_every_stage(tmp_path, embedded_broker):
    reg, cell = _hello_cell()
    res = pipeline.run_cell(cell, embedded_broker, reg, RunOptions(out_dir=tmp_path))
    assert res.verdict == PASS, res.reason
    names = {p.name for p in (tmp_path / res.artifacts).iterdir()}
    assert {
        "trace.jsonl",
        "commands.txt",
        "verdict.json",
        "hello.stdout.jsonl",
    } <= names
    assert "trace.txt" not in names  # written only for a cell that did not pass
    assert "error.txt" not in names and "broker.log.txt" not in names


def test_a_slow_broker_start_does_not_eat_the_cells_time(tmp_path, embedded_broker):
    """A first lease that starts a JVM or a container takes seconds; the cell's deadline
    starts after it (a 38 s RabbitMQ start under load left a hello-world cell no time)."""
    reg, cell = _hello_cell()

    class SlowPool:
        def lease(self, spec: str) -> BrokerLease:
            time.sleep(9.0)  # longer than the timeout below and its kill margin
            return BrokerLease(spec, broker=embedded_broker)

    res = pipeline.run_cell(cell, SlowPool(), reg, RunOptions(out_dir=tmp_path, timeout=3.0))
    assert res.verdict == PASS, res.reason


def test_a_peer_built_on_first_use_does_not_eat_the_cells_time(
    tmp_path, monkeypatch, embedded_broker
):
    """A first run compiles a peer (17.7 s for the C++ one under load): the cell's
    deadline starts after the build, which happens before any peer starts."""
    reg, cell = _hello_cell()
    impl = reg.get("python")
    real_argv, built = impl.argv, []

    def slow_first_argv():
        if not built:
            built.append(True)
            time.sleep(9.0)  # longer than the timeout below and its kill margin
        return real_argv()

    monkeypatch.setattr(impl, "argv", slow_first_argv)
    res = pipeline.run_cell(cell, embedded_broker, reg, RunOptions(out_dir=tmp_path, timeout=3.0))
    assert res.verdict == PASS, res.reason
    assert built


def test_a_requester_with_a_dynamic_target_does_not_need_dynamic_sources(tmp_path) -> None:
    """jms asks for a dynamic target (a temporary queue): a broker's lack of dynamic sources
    (a ``lacks: dynamic`` known failure, RabbitMQ before 4.1) must not decide its cell."""
    from harness.capabilities import DYNAMIC
    from harness.cell_state import CellState

    reg = PeerRegistry()
    cells = generate(
        scenarios.select(["request-response"]), reg.select(["jms", "python"]), ["rabbitmq"],
        faults=["none"], pairs="all",
    )  # fmt: skip
    needs = {
        (c.role_map["client"], c.role_map["server"]): pipeline.broker_needs(
            CellState.new(c, reg, RunOptions(out_dir=tmp_path))
        )
        for c in cells
    }
    assert DYNAMIC not in needs[("jms", "python")] and DYNAMIC not in needs[("jms", "jms")]
    assert DYNAMIC in needs[("python", "jms")] and DYNAMIC in needs[("python", "python")]


def _at_least_once_cell():
    reg = PeerRegistry()
    sc = scenarios.select(["at-least-once"])[0]
    return reg, Cell(
        sc, sc.fault("none"), (("sender", "python"), ("receiver", "python")), "embedded"
    )


def test_a_broker_that_dies_ends_the_cell_at_once(tmp_path):
    """The embedded broker is killed mid-cell: the cell ends within seconds as a harness
    error naming the broker (it is the harness's own), not at its peers' timeouts."""
    before = set(map(id, live_processes()))  # brokers of other tests in this worker live on
    broker = EmbeddedBroker(tmp_path / "broker")
    broker.start()
    try:
        reg, cell = _at_least_once_cell()
        assert broker.proc is not None
        killer = threading.Timer(1.0, broker.proc.kill)
        killer.start()
        opts = RunOptions(out_dir=tmp_path / "out", count=200_000, timeout=120.0)
        began = time.monotonic()
        res = pipeline.run_cell(cell, broker, reg, opts)
        killer.join()
        assert time.monotonic() - began < 30
        assert res.verdict == ERROR, res.reason
        assert "stage drive" in res.reason and "embedded broker exited" in res.reason
        peers = [p for p in live_processes() if p.running() and id(p) not in before]
        assert not peers, "a peer outlived its cell"
    finally:
        broker.stop()


def test_the_pool_replaces_a_broker_that_died(tmp_path):
    pool = BrokerPool(workdir=tmp_path)
    try:
        first = pool.lease("embedded").broker
        assert first is not None and first.exited() is None
        first.proc.kill()
        time.sleep(0.2)
        assert first.exited() is not None
        second = pool.lease("embedded").broker
        assert second is not None and second is not first and second.exited() is None
    finally:
        pool.close()
