#!/usr/bin/env python3
"""What more implementations cost per cell: the 3- and 8-implementation matrices side by side.

    python3 scripts/bench_impls.py [--rounds 1] [--broker embedded] [--base python,cpp,js]
        [--all python,cpp,js,go,pyamqp,java,jms,rust] [--extra with:java,cover] [--out DIR]

Each selection is one ``interop run`` in its own process, as a user starts it,
and the selections of a round run back to back so they share the machine's
state; rounds repeat that order. For each run it prints the cells, the wall
time ``interop run`` reports, the wall time per cell and the CPU seconds per
cell of the whole process tree (harness, peers, brokers, from the children's
rusage). The per-cell ratio of the full selection to the base one is the
figure issue 21 asks for: Java cells pay a JVM start, so this is where that
cost shows. CPU per cell is the steadier figure on a loaded machine; wall
per cell is what a user waits.

``--extra`` adds pair selections over the full implementation set (each
``--pairs`` value), so ``with:java`` (what a Java maintainer runs) and
``cover`` (what CI runs on real brokers) are timed in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_selection(peers: str, pairs: str, broker: str, out: Path, timeout: float) -> dict:
    """One ``interop run``; its cells, verdicts, reported duration and CPU."""
    cmd = [sys.executable, "-m", "harness.cli", "run", "--broker", broker, "--peers", peers]
    cmd += ["--pairs", pairs, "--out", str(out)]
    cpu0, t0 = _children_cpu(), time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    wall, cpu = time.monotonic() - t0, _children_cpu() - cpu0
    results = out / "results.json"
    if not results.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"bench_impls: {' '.join(cmd[2:])}: no results.json ({tail[0]})")
    data = json.loads(results.read_text())
    verdicts: dict[str, int] = {}
    for c in data["cells"]:
        verdicts[c["verdict"]] = verdicts.get(c["verdict"], 0) + 1
    ran = [c for c in data["cells"] if c["verdict"] != "skipped"]
    return {
        "cells": len(ran),
        "verdicts": verdicts,
        "reported_s": float(data.get("duration_s") or wall),
        "wall": wall,
        "cpu": cpu,
    }


def _line(label: str, r: dict) -> str:
    n = max(1, r["cells"])
    v = ", ".join(f"{k} {n}" for k, n in sorted(r["verdicts"].items()))
    return (
        f"  {label:<28}{r['cells']:>6}{r['reported_s']:>10.1f}{r['reported_s'] / n * 1000:>12.0f}"
        f"{r['cpu'] / n * 1000:>12.0f}   {v}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--broker", default="embedded")
    p.add_argument("--base", default="python,cpp,js")
    p.add_argument("--all", default="python,cpp,js,go,pyamqp,java,jms,rust")
    p.add_argument("--extra", default="with:java,cover", help="more --pairs values on --all")
    p.add_argument("--timeout", type=float, default=3600.0, help="per interop run, seconds")
    p.add_argument("--out", default=None, help="keep every run's folder here")
    args = p.parse_args(argv)
    if args.rounds < 1:
        print("bench_impls: --rounds must be >= 1", file=sys.stderr)
        return 2
    selections = [(f"{len(args.base.split(','))} impls, all pairs", args.base, "all")]
    selections.append((f"{len(args.all.split(','))} impls, all pairs", args.all, "all"))
    selections += [(f"{len(args.all.split(','))} impls, {x}", args.all, x) for x in
                   [e.strip() for e in args.extra.split(",") if e.strip()]]  # fmt: skip
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in selections}
    with tempfile.TemporaryDirectory(prefix="bench-impls-") as tmp:
        base = Path(args.out) if args.out else Path(tmp)
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}: load {os.getloadavg()[0]:.1f}", flush=True)
            for i, (label, peers, pairs) in enumerate(selections):
                out = base / f"r{rnd + 1}-{i}"
                r = run_selection(peers, pairs, args.broker, out, args.timeout)
                runs[label].append(r)
                print(_line(label, r), flush=True)
    print(f"\nmedians over {args.rounds} round(s), broker {args.broker}:")
    print(f"  {'selection':<28}{'cells':>6}{'wall s':>10}{'ms/cell':>12}{'CPU ms/cell':>12}")
    med: dict[str, dict] = {}
    for label, rs in runs.items():
        med[label] = {
            "cells": rs[0]["cells"],
            "verdicts": rs[-1]["verdicts"],
            "reported_s": statistics.median(r["reported_s"] for r in rs),
            "wall": statistics.median(r["wall"] for r in rs),
            "cpu": statistics.median(r["cpu"] for r in rs),
        }
        print(_line(label, med[label]))
    (b_label, *_), (a_label, *_) = selections[0], selections[1]
    b, a = med[b_label], med[a_label]
    per = [(x["reported_s"] / max(1, x["cells"]), x["cpu"] / max(1, x["cells"])) for x in (a, b)]
    print(
        f"\nper cell, {a_label} / {b_label}: wall {per[0][0] / per[1][0]:.2f}x, "
        f"CPU {per[0][1] / per[1][1]:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
