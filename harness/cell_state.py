"""What the stages of a cell share: its options, its trace, its processes, its outcome.

The pipeline (``harness.pipeline``) hands one ``CellState`` from stage to
stage. Each stage reads what earlier ones left and adds its own part, so a
stage that raises leaves everything before it intact for the artifacts.
"""

from __future__ import annotations

import contextlib
import queue
import re
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cells import Cell
from harness.fault_plans import ArmedPlan
from harness.matrix.results import FAIL, CellResult
from harness.process import Clock, ManagedProcess
from harness.scenario import Failure
from harness.trace.model import HARNESS, TraceEvent
from harness.trace.rules.base import Violation
from harness.trace.spool import SortingSpool
from harness.wire.faults import Call

if TYPE_CHECKING:
    from harness.brokers.base import Broker
    from harness.matrix.known import KnownFailures
    from harness.peers import PeerRegistry
    from harness.tap import Tap


class CellSkipped(Exception):
    """The cell cannot run here (a peer's toolchain or the broker is missing)."""


@dataclass
class RunOptions:
    """How cells run: where artifacts go and what overrides the scenarios' own values."""

    out_dir: Path
    timeout: float | None = None  # overrides the scenario's
    count: int | None = None  # overrides the scenario's
    known: KnownFailures | None = None
    rerun_prefix: str = "interop run"
    #: called with the cell's state once its verdict.json is written (interop run writes its page)
    on_done: Callable[[CellState], None] | None = None


def safe_name(cell_id: str) -> str:
    """A cell id as a folder name."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", cell_id.replace("->", "_to_"))


@dataclass
class StageError:
    """A harness fault: the stage it happened in and the traceback for ``error.txt``."""

    stage: str
    exc: BaseException
    traceback: str

    @property
    def reason(self) -> str:
        text = " ".join(str(self.exc).split())
        return f"error in stage {self.stage}: {type(self.exc).__name__}: {text}".rstrip(": ")


@dataclass
class CellState:
    """One cell on its way through the stages."""

    cell: Cell
    registry: PeerRegistry
    opts: RunOptions
    cell_dir: Path
    result: CellResult
    started: float = field(default_factory=time.monotonic)
    clock: Clock = field(default_factory=Clock)
    #: the cell's events as they come; a long trace spills to its folder (harness.trace.spool)
    trace: SortingSpool = field(default_factory=SortingSpool)
    # set by the plan stage
    count: int = 0
    timeout: float = 0.0
    deadline: float = 0.0
    armed: ArmedPlan | None = None
    queue_name: str = ""
    # set by the broker stages: where brokers come from, and the cell's own
    source: Any = None
    broker: Broker | None = None
    address: str = ""
    # set by listeners, taps and peers
    listen_ports: dict[str, int] = field(default_factory=dict)  # listening role -> its port
    #: what fault rules ask of the harness (a broker restart), served by the drive stage;
    #: ``None`` is a peer's end (its stdout closed), which wakes the drive stage at once
    calls: queue.Queue[Call | None] = field(default_factory=queue.Queue)
    taps: dict[str, Tap] = field(default_factory=dict)  # role label -> its tap
    procs: dict[str, ManagedProcess] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    start_error: str | None = None
    # set by drive and teardown
    stopped_early: set[str] = field(default_factory=set)
    #: (label, rule, why) of peers the drive stage stopped as hopeless (harness.drive)
    stops: list[tuple[str, str, str]] = field(default_factory=list)
    killed: set[str] = field(default_factory=set)
    #: the trace in time order, set by teardown: a list, or pages on disk when long
    events: Sequence[TraceEvent] = field(default_factory=list)
    #: the trace as trace.jsonl holds it (folded when long); set by the artifact stage
    stored_events: list[TraceEvent] | None = None
    #: for a trace spilled to disk, set with ``stored_events``: its story (what patterns read,
    #: harness.trace.story) and how many frames it has; empty/None: the trace is its own story
    story: Sequence[TraceEvent] = ()
    frames: int | None = None
    #: the invariants' verdicts on a trace spilled to disk, found in that same pass
    violations: list[Violation] | None = None
    failures: list[Failure] = field(default_factory=list)
    run: Any = None  # the CellRun the checks look at
    # how the cell ended before its checks: a verdict decided early, or a harness fault
    decided: bool = False
    error: StageError | None = None
    #: wall seconds spent in each stage that ran (verdict.json "timings"; scripts/bench_matrix.py)
    stage_s: dict[str, float] = field(default_factory=dict)
    #: CPU seconds of the cell's own thread in each stage (not the taps' loop or output readers)
    stage_cpu_s: dict[str, float] = field(default_factory=dict)

    @classmethod
    def new(cls, cell: Cell, registry: PeerRegistry, opts: RunOptions) -> CellState:
        """The state before any stage: the artifact folder exists and the result can be reported."""
        cell_dir = opts.out_dir / safe_name(cell.id)
        cell_dir.mkdir(parents=True, exist_ok=True)
        rerun = f"{opts.rerun_prefix} --broker {cell.broker or 'embedded'} --cell {shlex.quote(cell.id)}"
        result = CellResult(
            id=cell.id,
            scenario=cell.scenario.name,
            fault=cell.fault.name,
            broker=cell.broker,
            roles=cell.role_map,
            verdict=FAIL,
            artifacts=cell_dir.name,
            rerun=rerun,
        )
        # a long trace spills here while the cell runs; removed when the cell ends
        trace = SortingSpool(cell_dir / ".trace-spool")
        return cls(
            cell=cell, registry=registry, opts=opts, cell_dir=cell_dir, result=result, trace=trace
        )

    @property
    def stopped(self) -> bool:
        """Whether the cell's story has ended (decided early or a harness fault)."""
        return self.decided or self.error is not None

    def decide(self, verdict: str, reason: str, rule: str | None = None) -> None:
        """End the cell with a verdict before it ran (unsupported, skipped, broker missing)."""
        self.result.verdict, self.result.reason = verdict, reason
        self.result.rule = rule if verdict == FAIL else None
        self.decided = True

    def note(self, name: str, **fields: Any) -> None:
        """A harness event on the cell's clock (restarts, timeouts, peers stopped)."""
        self.trace.add(TraceEvent(t=self.clock.now(), kind=HARNESS, name=name, fields=fields))

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    @contextlib.contextmanager
    def off_the_clock(self) -> Iterator[None]:
        """Time that is not the peers' (a broker's start or restart, a peer's first build)
        moves the deadline on by as much, whatever happens inside."""
        began = time.monotonic()
        try:
            yield
        finally:
            self.deadline += time.monotonic() - began

    def peers_s(self) -> float:
        """Wall seconds from the first peer's start to the last peer's end: the peers' own time.

        A peer ends when its stdout closes (it exited); one still running at
        teardown ends when the harness stopped it.
        """
        spans = [p.span() for p in self.procs.values()]
        spans = [s for s in spans if s is not None]
        if not spans:
            return 0.0
        return max(end for _, end in spans) - min(start for start, _ in spans)

    def timings(self) -> dict[str, Any]:
        """Where the cell's wall time went: per stage, the peers' own span, the harness's rest."""
        total = time.monotonic() - self.started
        peers = self.peers_s()
        return {
            "stages": {name: round(s, 4) for name, s in self.stage_s.items()},
            "stages_cpu": {name: round(s, 4) for name, s in self.stage_cpu_s.items()},
            "peers_s": round(peers, 4),
            "overhead_s": round(max(0.0, total - peers), 4),
        }
