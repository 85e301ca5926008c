#!/usr/bin/env python3
"""Where a matrix run's time goes: per stage, per scenario, and the harness's own share.

    python3 scripts/bench_matrix.py [--peers python,cpp,js] [--broker embedded]
        [--scenario NAME,...] [--fault PLAN,...] [-j 2[,3,4]] [--out DIR]

Runs the selection the way ``interop run`` does (one ``Session``, worker
threads, brokers shared per worker) once for each ``-j`` value, one after the
other, so the figures of the runs are taken on the same machine state. For
each run it prints the wall time (what ``interop run`` prints), the CPU
seconds of the harness process and of its children (peers and brokers), the
wall time of every pipeline stage summed over the cells with its median, the
cell-seconds of each scenario and fault plan, and the harness overhead of a
cell: its wall time minus the peers' own run time (first peer start to last
peer exit), from the ``timings`` each cell's ``verdict.json`` records.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from harness.cell_state import RunOptions
from harness.pipeline import STAGES
from harness.selection import Selection
from harness.session import Session


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _thread_cpu(name: str) -> float:
    """CPU seconds of the live thread called ``name`` (Linux /proc), 0 if there is none."""
    for t in threading.enumerate():
        if t.name == name and t.native_id is not None:
            try:
                fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text().rsplit(")", 1)[1]
            except OSError:
                return 0.0
            parts = fields.split()
            return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_once(args: argparse.Namespace, jobs: int, out: Path) -> dict:
    """One matrix run on ``jobs`` workers; what its cells' verdict.json files say about time."""
    sel = Selection(
        broker=args.broker,
        peers=args.peers,
        scenario=args.scenario,
        fault=args.fault,
        only_available_peers=True,
    )
    session = Session.from_selection(sel, RunOptions(out_dir=out), jobs=jobs)
    cpu_self, cpu_children = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    cpu_taps = _thread_cpu("interop-io")
    t0 = time.monotonic()
    results = session.run()
    wall = time.monotonic() - t0
    cpu_taps = _thread_cpu("interop-io") - cpu_taps
    cpu_self = _cpu(resource.RUSAGE_SELF) - cpu_self
    cpu_children = _cpu(resource.RUSAGE_CHILDREN) - cpu_children
    cells = []
    for res in results:
        verdict = json.loads((out / res.artifacts / "verdict.json").read_text())
        cells.append((res, verdict.get("timings") or {}))
    return {
        "jobs": jobs,
        "wall": wall,
        "cpu_self": cpu_self,
        "cpu_children": cpu_children,
        "cpu_taps": cpu_taps,
        "cells": cells,
    }


def report(run: dict) -> str:
    cells = run["cells"]
    verdicts: dict[str, int] = defaultdict(int)
    for res, _ in cells:
        verdicts[res.verdict] += 1
    lines = [
        f"-j {run['jobs']}: {len(cells)} cells in {run['wall']:.1f} s wall; CPU: harness "
        f"{run['cpu_self']:.1f} s, peers and brokers {run['cpu_children']:.1f} s; "
        + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())),
        "",
        f"  {'stage':<14}{'total s':>9}{'median ms':>11}{'p90 ms':>9}{'max ms':>9}"
        f"{'CPU s':>8}{'CPU median ms':>15}",
    ]
    for stage in [s.name for s in STAGES]:
        values = [t["stages"][stage] for _, t in cells if stage in t.get("stages", {})]
        if not values:
            continue
        cpu = [t.get("stages_cpu", {}).get(stage, 0.0) for _, t in cells if stage in t["stages"]]
        lines.append(
            f"  {stage:<14}{sum(values):>9.2f}{statistics.median(values) * 1000:>11.1f}"
            f"{_pct(values, 0.9) * 1000:>9.1f}{max(values) * 1000:>9.1f}"
            f"{sum(cpu):>8.2f}{statistics.median(cpu) * 1000:>15.1f}"
        )
    stage_cpu = sum(sum(t.get("stages_cpu", {}).values()) for _, t in cells)
    lines.append(
        f"  harness CPU outside the cells' threads: {run['cpu_self'] - stage_cpu:.1f} s, of which "
        f"the taps' loop {run['cpu_taps']:.1f} s (the rest: peers' output readers, broker starts)"
    )
    by_plan: dict[tuple[str, str], list[float]] = defaultdict(list)
    for res, _ in cells:
        by_plan[(res.scenario, res.fault)].append(res.duration_s)
    lines += ["", f"  {'scenario / fault':<32}{'cells':>6}{'cell-s':>8}{'median s':>10}"]
    for (sc, fault), ds in sorted(by_plan.items(), key=lambda kv: -sum(kv[1])):
        lines.append(
            f"  {sc + ' / ' + fault:<32}{len(ds):>6}{sum(ds):>8.1f}{statistics.median(ds):>10.2f}"
        )
    ran = [t for _, t in cells if t.get("peers_s")]
    overhead = [t["overhead_s"] for t in ran]
    peers = [t["peers_s"] for t in ran]
    cell_s = sum(res.duration_s for res, _ in cells)
    lines += [
        "",
        f"  cell-seconds {cell_s:.1f}, of which peers' own run time {sum(peers):.1f}",
        f"  harness overhead per cell (wall minus peers' run time, {len(ran)} cells with peers): "
        f"median {statistics.median(overhead) * 1000 if overhead else 0:.0f} ms, "
        f"p90 {_pct(overhead, 0.9) * 1000:.0f} ms",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peers", default="python,cpp,js")
    p.add_argument("--broker", default="embedded")
    p.add_argument("--scenario", default=None)
    p.add_argument("--fault", default=None)
    p.add_argument("-j", "--jobs", default="2", help="worker counts to compare, e.g. 2,3,4")
    p.add_argument(
        "--switch-interval",
        default=None,
        help="sys.setswitchinterval values to compare (seconds, e.g. 0.005,0.0005)",
    )
    p.add_argument("--out", default=None, help="keep the cells' folders here (default: a temp dir)")
    args = p.parse_args(argv)
    try:
        jobs = [int(j) for j in args.jobs.split(",") if j.strip()]
    except ValueError:
        print(f"bench_matrix: -j {args.jobs!r}: expected numbers like 2,3,4", file=sys.stderr)
        return 2
    if not jobs or min(jobs) < 1:
        print("bench_matrix: -j needs worker counts >= 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        base = Path(args.out) if args.out else Path(tmp)
        switches = [float(x) for x in (args.switch_interval or "").split(",") if x.strip()]
        for j in jobs:
            for sw in switches or [None]:
                if sw is not None:
                    sys.setswitchinterval(sw)
                    print(f"switch interval {sw:g} s")
                run = run_once(args, j, base / f"j{j}-{sw}")
                print(report(run), flush=True)
                print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
