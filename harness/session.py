"""A matrix run: many cells over a few workers, brokers shared per worker.

Each worker is a thread that runs one cell at a time and keeps the brokers
it has started, so a broker is started once per worker rather than once per
cell, and a fault that restarts it only disturbs that worker's own cell.
Workers prefer cells for brokers they already hold, and a broker is stopped
as soon as no cell needs it any more.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.brokers import registry as broker_registry
from harness.brokers.base import Broker, BrokerError, BrokerUnavailable
from harness.cells import DIRECT, Cell
from harness.env import in_ci
from harness.matrix.results import FAIL, SKIPPED, CellResult, RunResult
from harness.peers import Registry
from harness.process import kill_all
from harness.runner import CellSkipped, RunOptions, run_cell

Progress = Callable[[int, int, CellResult], None]


@dataclass
class _BrokerSlot:
    broker: Broker | None = None
    error: str | None = None
    unavailable: bool = False


@dataclass
class Session:
    """Runs cells; ``brokers_seen`` collects each broker's identity for results.json."""

    registry: Registry
    opts: RunOptions
    jobs: int = 1
    progress: Progress | None = None
    brokers_seen: dict[str, dict] = field(default_factory=dict)
    _started: list[Broker] = field(default_factory=list)

    def run(self, cells: list[Cell]) -> list[CellResult]:
        pending = list(cells)
        remaining = Counter(c.broker for c in cells)
        results: dict[int, CellResult] = {}
        lock = threading.Lock()
        done = [0]
        order = {id(c): i for i, c in enumerate(cells)}
        workdir = Path(tempfile.mkdtemp(prefix="interop-brokers-"))

        def take(held: dict[str, _BrokerSlot]) -> Cell | None:
            with lock:
                if not pending:
                    return None
                for i, c in enumerate(pending):
                    if c.broker == DIRECT or c.broker in held:
                        return pending.pop(i)
                return pending.pop(0)

        def finish(cell: Cell, res: CellResult, held: dict[str, _BrokerSlot]) -> None:
            with lock:
                results[order[id(cell)]] = res
                done[0] += 1
                remaining[cell.broker] -= 1
                n = done[0]
                finished = [b for b in held if remaining[b] <= 0]
            for b in finished:
                slot = held.pop(b)
                if slot.broker is not None:
                    slot.broker.stop()
            if self.progress:
                self.progress(n, len(cells), res)

        def worker(wid: int) -> None:
            held: dict[str, _BrokerSlot] = {}
            try:
                while True:
                    cell = take(held)
                    if cell is None:
                        return
                    res = self._run_one(cell, held, workdir / f"w{wid}")
                    finish(cell, res, held)
            finally:
                for slot in held.values():
                    if slot.broker is not None:
                        slot.broker.stop()

        n = max(1, min(self.jobs, len(cells)))
        try:
            if n == 1:
                worker(0)
            else:
                threads = [
                    threading.Thread(target=worker, args=(i,), name=f"cell-worker-{i}", daemon=True)
                    for i in range(n)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    while t.is_alive():
                        t.join(0.2)
        except BaseException:
            # Ctrl-C or SIGTERM: no new cells; kill every peer so running cells end now,
            # then stop every broker this run started (workers may be mid-cell)
            with lock:
                pending.clear()
            kill_all()
            raise
        finally:
            for b in self._started:
                b.stop()
            shutil.rmtree(workdir, ignore_errors=True)
        return [results[i] for i in sorted(results)]

    def _broker(self, spec: str, held: dict[str, _BrokerSlot], workdir: Path) -> _BrokerSlot:
        if spec in held:
            return held[spec]
        slot = _BrokerSlot()
        held[spec] = slot
        try:
            # tracked before it starts: a Ctrl-C in the main thread stops it even mid-start
            b = broker_registry.start(spec, workdir, on_create=self._started.append)
        except BrokerUnavailable as e:
            slot.error, slot.unavailable = str(e), True
        except BrokerError as e:
            slot.error = str(e)
        else:
            slot.broker = b
            self.brokers_seen.setdefault(spec, b.describe())
        return slot

    def _run_one(self, cell: Cell, held: dict[str, _BrokerSlot], workdir: Path) -> CellResult:
        t0 = time.monotonic()

        def not_run(verdict: str, reason: str, rule: str | None) -> CellResult:
            return CellResult(
                id=cell.id,
                scenario=cell.scenario.name,
                fault=cell.fault.name,
                broker=cell.broker,
                roles=cell.role_map,
                verdict=verdict,
                reason=reason,
                rule=rule if verdict == FAIL else None,
                duration_s=time.monotonic() - t0,
            )

        broker = None
        if cell.broker != DIRECT:
            slot = self._broker(cell.broker, held, workdir)
            if slot.error:
                # a broker missing here is a skip on a laptop; in CI, or one that failed, a failure
                verdict = SKIPPED if slot.unavailable and not in_ci() else FAIL
                return not_run(verdict, slot.error, "broker")
            broker = slot.broker
        try:
            return run_cell(cell, broker, self.registry, self.opts)
        except CellSkipped as e:
            return not_run(FAIL if in_ci() else SKIPPED, str(e), "peer-missing")
        except Exception as e:  # a harness bug must not take the whole run down
            return not_run(FAIL, f"harness error: {type(e).__name__}: {e}", "harness")

    def result(
        self, cells: list[CellResult], command: str, started: float, started_at: str
    ) -> RunResult:
        peers = []
        for name in sorted({impl for c in cells for impl in c.roles.values()}):
            try:
                peers.append({"name": name, "version": self.registry.get(name).version()})
            except Exception:
                peers.append({"name": name, "version": ""})
        brokers = list(self.brokers_seen.values())
        return RunResult(
            brokers=brokers,
            peers=peers,
            cells=cells,
            started_at=started_at,
            duration_s=time.monotonic() - started,
            command=command,
        )


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def print_progress(n: int, total: int, res: CellResult) -> None:
    width = len(str(total))
    mark = {"pass": "pass", "fail": "FAIL", "xpass": "XPASS"}.get(res.verdict, res.verdict)
    line = f"[{n:>{width}}/{total}] {mark:<11} {res.id}  {res.duration_s:.1f}s"
    if res.verdict not in ("pass",) and res.reason:
        line += f"\n{'':>{2 * width + 4}}{res.reason[:300]}"
    print(line, file=sys.stderr, flush=True)
