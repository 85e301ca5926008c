#!/usr/bin/env python3
"""The long at-least-once run: 100,000 messages through 20 cuts, next to the same run uncut.

For every implementation (sender and receiver both, or the pairs that
``--pairs`` names) and every broker, two cells of the at-least-once scenario run through the harness's own cell
pipeline (taps, checks, artifacts): plan ``none`` and plan ``long``
(scenarios/at_least_once.py: 20 cuts spread over the run, sender and
receiver taking turns). Each cell runs in a child process of its own, so
the peak RSS it reports (``VmHWM``) is that of one harness process, the
tap's I/O thread included, and nothing else. Printed per cell: verdict,
ids lost (in 1..N, never received) and whether the sender had all N
confirmed, duplicates the receiver dropped, the cuts that fired, wall
time, and the size on disk of the cell's trace (trace.jsonl + trace.txt,
folded: see harness/trace/fold.py). Then a table with the cut/uncut time
ratio (target <= 2.0).

    python scripts/bench_long.py [--count 100000] [--peers IMPL,...]
        [--pairs SENDER:RECEIVER,...] [--brokers embedded,rabbitmq] [--out DIR]
        [--timeout 1800] [--events]

``--pairs go:python,python:go`` runs those pairs instead of each
implementation with itself: an implementation whose own receiver (or
sender) a broker cannot serve is still measured in the other role, with a
partner that the broker can serve.

Peers run with ``--quiet`` (no per-message event lines) unless ``--events``
is given. A cell that fails is reported with its reason (which quotes the
wire) and its artifact folder; the script goes on and exits 1.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.brokers import registry as brokers  # noqa: E402
from harness.brokers.base import Broker  # noqa: E402
from harness.peers import PeerRegistry  # noqa: E402


def _scratch(prefix: str) -> str:
    """A broker's work folder, removed when the script ends (it used to stay in /tmp)."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def vm_hwm_kb() -> int:
    """This process's peak resident set size in KiB (``VmHWM`` in /proc/self/status)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _trace_bytes(cell_dir: Path) -> int:
    return sum(
        (cell_dir / n).stat().st_size
        for n in ("trace.jsonl", "trace.txt")
        if (cell_dir / n).exists()
    )


def child(args: argparse.Namespace) -> int:
    """One cell in this process; one JSON line on stdout with what it did."""
    import harness.scenarios.at_least_once as alo

    from harness.brokers.url import UrlBroker
    from harness.cells import Cell
    from harness.matrix import known as known_mod
    from harness.pipeline import RunOptions, run_cell

    if not args.events:
        # The drive stage stops a peer that prints nothing for drive.STALL_S after the
        # other peer ended; a --quiet receiver still draining the queue prints nothing
        # per message, so that watch would stop it mid-way. It waits for the cell's
        # deadline here instead (the peers' own --timeout still bounds the cell).
        import harness.drive as drive

        drive.STALL_S = args.timeout
    plan = alo.LONG if args.plan == "long" else alo.NO_FAULTS
    sc = alo.SCENARIO
    if not args.events:
        sc = dataclasses.replace(
            sc, roles=tuple(dataclasses.replace(r, args=(*r.args, "--quiet")) for r in sc.roles)
        )
    broker = UrlBroker(args.spec, args.url)
    broker.start(timeout=30.0)
    cell = Cell(sc, plan, (("sender", args.sender), ("receiver", args.receiver)), args.spec)
    out = Path(args.out)
    opts = RunOptions(
        out_dir=out, timeout=args.timeout, count=args.count, known=known_mod.load_registry([])
    )
    t0 = time.monotonic()
    res = run_cell(cell, broker, PeerRegistry(), opts)
    wall = time.monotonic() - t0
    cell_dir = out / res.artifacts
    verdict = json.loads((cell_dir / "verdict.json").read_text())
    cuts = 0
    with open(cell_dir / "trace.jsonl", encoding="utf-8") as f:
        for line in f:
            if '"kind": "conn"' in line and '"name": "cut"' in line:
                cuts += 1
    results: dict[str, Any] = {}
    for label in ("sender", "receiver"):
        p = cell_dir / f"{label}.stdout.jsonl"
        for line in p.read_text().splitlines() if p.exists() else []:
            obj = json.loads(line)
            if obj.get("kind") == "result":
                results[label] = obj
    got, sent = results.get("receiver", {}), results.get("sender", {})
    missing = got.get("missing")
    print(
        json.dumps(
            {
                "verdict": res.verdict,
                "reason": res.reason,
                "wall_s": round(wall, 2),
                "received": got.get("received"),
                "lost": len(missing) if isinstance(missing, list) else None,
                "confirmed": sent.get("confirmed"),
                "duplicates": got.get("duplicates"),
                "resent": sent.get("resent"),
                "reconnects": [sent.get("reconnects"), got.get("reconnects")],
                "cuts": cuts,
                "harness_hwm_kb": vm_hwm_kb(),
                "trace_bytes": _trace_bytes(cell_dir),
                "peers_s": (verdict.get("timings") or {}).get("peers_s"),
                "dir": str(cell_dir),
            }
        ),
        flush=True,
    )
    return 0


def run_child(
    pair: tuple[str, str], spec: str, url: str, plan: str, args: argparse.Namespace
) -> dict:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child"]
    argv += ["--sender", pair[0], "--receiver", pair[1]]
    argv += ["--spec", spec, "--url", url, "--plan", plan, "--count", str(args.count)]
    argv += [
        "--timeout",
        f"{args.timeout:g}",
        "--out",
        str(Path(args.out) / spec.replace(":", "_")),
    ]
    if args.events:
        argv.append("--events")
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=args.timeout + 300, cwd=str(ROOT)
        )
    except subprocess.TimeoutExpired:
        return {"verdict": "error", "reason": "bench child did not end in time"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"verdict": "error", "reason": f"bench child exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def _start(spec: str, workdir: str) -> Broker | str:
    reason = brokers.provider(spec).unavailable()
    if reason:
        return reason
    b = brokers.create(spec, workdir)
    try:
        b.start(timeout=120.0)
    except Exception as e:  # noqa: BLE001 - one line, and the other brokers still run
        b.stop()
        return f"did not start: {' '.join(str(e).split())[:200]}"
    return b


def _mb(kb: Any) -> str:
    return f"{kb / 1024:.0f}" if isinstance(kb, int) else "-"


def pair_name(pair: tuple[str, str]) -> str:
    """``cpp`` for a pair of one implementation, ``go->python`` for two."""
    return pair[0] if pair[0] == pair[1] else f"{pair[0]}->{pair[1]}"


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """``go:python,python:go`` as (sender, receiver) pairs; a bad item raises ValueError."""
    pairs = []
    for item in text.split(","):
        sender, sep, receiver = item.strip().partition(":")
        if not sep or not sender or not receiver:
            raise ValueError(f"--pairs wants SENDER:RECEIVER items, got {item.strip()!r}")
        pairs.append((sender, receiver))
    return pairs


def _row(impl: str, spec: str, cut: dict, plain: dict) -> str:
    ratio = "-"
    if cut.get("wall_s") and plain.get("wall_s"):
        ratio = f"{cut['wall_s'] / plain['wall_s']:.2f}"
    lost = cut.get("lost")
    lost_text = "-" if lost is None else str(lost)
    tb = cut.get("trace_bytes")
    return (
        f"{impl:<14} {spec:<9} {cut.get('verdict', '?'):<6} {lost_text:>5} {str(cut.get('duplicates', '-')):>6} "
        f"{str(cut.get('cuts', '-')):>4} {plain.get('wall_s', '-'):>8} {cut.get('wall_s', '-'):>8} {ratio:>6} "
        f"{_mb(plain.get('harness_hwm_kb')):>7} {_mb(cut.get('harness_hwm_kb')):>7} "
        f"{(tb / 1e6 if isinstance(tb, int) else 0):>8.2f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--peers", help="comma list (default: every available implementation)")
    ap.add_argument("--brokers", default="embedded,rabbitmq")
    ap.add_argument("--out", default=None, help="artifact folder (default: a new temporary one)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per cell, seconds")
    ap.add_argument("--events", action="store_true", help="peers print per-message events")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--pairs", help="SENDER:RECEIVER,... instead of each implementation with itself"
    )
    ap.add_argument("--sender", help=argparse.SUPPRESS)
    ap.add_argument("--receiver", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--plan", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.count < 1 or args.timeout <= 0:
        print("error: --count must be >= 1 and --timeout > 0", file=sys.stderr)
        return 2
    if args.child:
        return child(args)
    reg = PeerRegistry()
    try:
        chosen = reg.select(args.peers.split(",") if args.peers else None)
        needs = frozenset({"reconnect"})
        impls = [
            i.name
            for i in chosen
            if not i.unavailable() and i.supports("send", needs) and i.supports("receive", needs)
        ]
        pairs = [(i, i) for i in impls]
        if args.pairs:
            pairs = parse_pairs(args.pairs)
            # every name known first (the registry's one line), then each one runnable here
            named = [reg.get(n) for n in sorted({n for pair in pairs for n in pair})]
            for impl in named:
                reason = impl.unavailable()
                if reason:
                    raise ValueError(f"{impl.name}: {reason}")
        specs = brokers.parse_specs(args.brokers)
    except Exception as e:  # noqa: BLE001 - a bad name: one line, exit 2
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    args.out = args.out or tempfile.mkdtemp(prefix="bench-long-")  # after the checks of the input
    print(f"bench-long: {args.count} messages per cell, artifacts in {args.out}", flush=True)
    rows: list[str] = []
    bad = 0
    for spec in specs:
        b = _start(spec, _scratch(f"bench-long-{spec}-"))
        if isinstance(b, str):
            print(f"{spec}: skipped: {b}", flush=True)
            continue
        try:
            for pair in pairs:
                got = {}
                for plan in ("none", "long"):
                    got[plan] = run_child(pair, spec, b.url(), plan, args)
                    print(f"  {pair_name(pair)} {spec} {plan}: {json.dumps(got[plan])}", flush=True)
                rows.append(_row(pair_name(pair), spec, got["long"], got["none"]))
                for plan in ("none", "long"):
                    g = got[plan]
                    if g.get("verdict") not in ("pass", "xfail"):
                        bad += 1
                        rows.append(
                            f"    {plan}: {g.get('verdict')}: {g.get('reason')} ({g.get('dir', '')})"
                        )
        finally:
            b.stop()
    print(
        f"\n{'impl':<14} {'broker':<9} {'long':<6} {'lost':>5} {'dups':>6} {'cuts':>4} "
        f"{'uncut s':>8} {'cut s':>8} {'ratio':>6} {'RSS0 MB':>7} {'RSS MB':>7} {'trace MB':>8}"
    )
    for r in rows:
        print(r)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
