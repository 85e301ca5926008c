"""A session: the cells of one selection, run over a few workers with brokers shared per worker.

Both front doors use it: ``interop run`` runs every cell over worker
threads (``run``), the pytest plugin runs one cell per test (``run_one``).
Either way a cell goes through the same pipeline (``harness.pipeline``) and
leases its broker from a ``BrokerPool``, so the same selection gives the
same verdicts from both.

Each worker thread keeps the brokers it has started, so a broker is started
once per worker rather than once per cell, and a fault that restarts it
only disturbs that worker's own cell. Workers prefer cells for brokers they
already hold, and a broker is stopped as soon as no cell needs it any more.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.broker_pool import BrokerPool, scratch_dir
from harness.brokers.base import Broker
from harness.cell_state import RunOptions
from harness.cells import DIRECT, Cell
from harness.matrix.results import CellResult, RunResult
from harness.peers import PeerRegistry
from harness.pipeline import run_cell
from harness.process import kill_all
from harness.selection import Selection, resolve

Progress = Callable[[int, int, CellResult], None]


@dataclass
class Session:
    """Runs cells; ``brokers_seen`` collects each broker's identity for results.json."""

    registry: PeerRegistry
    opts: RunOptions
    jobs: int = 1
    progress: Progress | None = None
    cells: list[Cell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    brokers_seen: dict[str, dict] = field(default_factory=dict)
    _started: list[Broker] = field(default_factory=list)
    _pool: BrokerPool | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _t0: float = field(default_factory=time.monotonic)
    _t0_iso: str = field(default_factory=lambda: now_iso())

    @classmethod
    def from_selection(cls, sel: Selection, opts: RunOptions, **kw: object) -> Session:
        """A session for the cells ``sel`` chooses; ``SelectionError`` for a bad option."""
        r = resolve(sel)
        opts = replace(opts, known=r.known, count=sel.count, timeout=sel.timeout)
        return cls(r.registry, opts, cells=r.cells, notes=r.notes, **kw)  # type: ignore[arg-type]

    # -- one cell at a time (pytest) ---------------------------------------------

    def run_one(self, cell: Cell, broker_workdir: Path | None = None) -> CellResult:
        """Run one cell, leasing its broker from the session's pool (kept until ``close``)."""
        if self._pool is None:
            self._pool = BrokerPool(broker_workdir, on_create=self._track)
        res = run_cell(
            cell, self._pool if cell.broker != DIRECT else None, self.registry, self.opts
        )
        self._seen(self._pool)
        return res

    def close(self) -> None:
        """Stop every broker this session started."""
        if self._pool is not None:
            self._pool.close()
        for b in list(self._started):
            b.stop()

    # -- a whole matrix (interop run) --------------------------------------------

    def run(self, cells: list[Cell] | None = None) -> list[CellResult]:
        """Run ``cells`` (default: the selection's) on ``jobs`` worker threads, in order of the list."""
        cells = list(self.cells if cells is None else cells)
        workdir = scratch_dir("brokers-")
        matrix = _Matrix(self, cells, workdir)
        n = max(1, min(self.jobs, len(cells)))
        try:
            if n == 1:
                matrix.worker(0)
            else:
                threads = [
                    threading.Thread(
                        target=matrix.worker, args=(i,), name=f"cell-worker-{i}", daemon=True
                    )
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
            matrix.cancel()
            kill_all()
            raise
        finally:
            for b in list(self._started):
                b.stop()
            shutil.rmtree(workdir, ignore_errors=True)
        return matrix.in_order()

    def result(
        self,
        cells: list[CellResult],
        command: str = "",
        started: float | None = None,
        started_at: str | None = None,
    ) -> RunResult:
        """The run as results.json records it: brokers and peers as they identified themselves.

        ``started`` (monotonic) and ``started_at`` default to when this session was made.
        """
        started = self._t0 if started is None else started
        started_at = self._t0_iso if started_at is None else started_at
        return RunResult(
            brokers=list(self.brokers_seen.values()),
            peers=self.peer_versions(sorted({impl for c in cells for impl in c.roles.values()})),
            cells=cells,
            started_at=started_at,
            duration_s=time.monotonic() - started,
            command=command,
        )

    def peer_versions(self, names: list[str]) -> list[dict[str, str]]:
        """``{"name", "version"}`` of each implementation named, as results.json lists peers."""
        peers = []
        for name in names:
            try:
                peers.append({"name": name, "version": self.registry.get(name).version()})
            except Exception:  # noqa: BLE001 - a version we cannot read is not worth a crash
                peers.append({"name": name, "version": ""})
        return peers

    def _track(self, broker: Broker) -> None:
        # tracked before it starts: a Ctrl-C in the main thread stops it even mid-start
        with self._lock:
            self._started.append(broker)

    def _seen(self, pool: BrokerPool) -> None:
        with self._lock:
            for b in pool.brokers():
                self.brokers_seen.setdefault(b.name, b.describe())


class _Matrix:
    """The shared queue of cells of one ``Session.run`` and its workers."""

    def __init__(self, session: Session, cells: list[Cell], workdir: Path) -> None:
        self.session = session
        self.cells = cells
        self.pending = list(cells)
        self.remaining = Counter(c.broker for c in cells)
        self.results: dict[int, CellResult] = {}
        self.order = {id(c): i for i, c in enumerate(cells)}
        self.workdir = workdir
        self.done = 0
        self.lock = threading.Lock()

    def take(self, held: list[str]) -> Cell | None:
        """The next cell, preferring one whose broker this worker already holds."""
        with self.lock:
            for i, c in enumerate(self.pending):
                if c.broker == DIRECT or c.broker in held:
                    return self.pending.pop(i)
            return self.pending.pop(0) if self.pending else None

    def worker(self, wid: int) -> None:
        s = self.session
        pool = BrokerPool(self.workdir / f"w{wid}", on_create=s._track)
        try:
            while (cell := self.take(pool.held())) is not None:
                res = run_cell(cell, pool if cell.broker != DIRECT else None, s.registry, s.opts)
                s._seen(pool)
                self.finish(cell, res, pool)
        finally:
            pool.close()

    def finish(self, cell: Cell, res: CellResult, pool: BrokerPool) -> None:
        with self.lock:
            self.results[self.order[id(cell)]] = res
            self.done += 1
            self.remaining[cell.broker] -= 1
            n = self.done
            finished = [b for b in pool.held() if self.remaining[b] <= 0]
        for spec in finished:
            pool.release(spec)
        if self.session.progress:
            self.session.progress(n, len(self.cells), res)

    def cancel(self) -> None:
        with self.lock:
            self.pending.clear()

    def in_order(self) -> list[CellResult]:
        return [self.results[i] for i in sorted(self.results)]


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def print_progress(n: int, total: int, res: CellResult) -> None:
    width = len(str(total))
    mark = {"pass": "pass", "fail": "FAIL", "xpass": "XPASS", "error": "ERROR"}.get(
        res.verdict, res.verdict
    )
    line = f"[{n:>{width}}/{total}] {mark:<11} {res.id}  {res.duration_s:.1f}s"
    if res.verdict not in ("pass",) and res.reason:
        line += f"\n{'':>{2 * width + 4}}{res.reason[:300]}"
    print(line, file=sys.stderr, flush=True)
