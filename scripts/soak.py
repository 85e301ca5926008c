#!/usr/bin/env python3
"""Run the matrix N times and list every cell that was ever not as expected.

Each run is a fresh ``interop run`` process (so fresh brokers, fresh peers,
fresh taps) writing its results under ``DIR/run-NNN``; nothing is retried.
At the end (or on Ctrl-C, over the runs finished so far) a table lists every
cell whose verdict was, in some run, not the expected one: its verdicts
across runs as one letter per run, and for each bad run its verdict, reason
and artifact folder. The last line is exactly ``N runs, C cells, K
unexpected`` (K = cell-runs with an unexpected verdict); exit 1 when K > 0.

Expected verdicts: ``pass``; ``xfail`` (a known failure, matched by the
registry) and ``unsupported`` (a broker that lacks what the cell needs, or a
registry entry saying so). Unexpected: ``fail`` and ``error``; ``xpass`` (a
known failure that did not happen: the entry or the cell is flaky);
``skipped`` (a soak names its peers and brokers, so a cell that did not run
measured nothing); and a cell of the selection missing from a run's results
(the run died or timed out).

    python scripts/soak.py --runs 50 --peers python,cpp,js --out /tmp/soak50
    python scripts/soak.py --runs 3 --peers python,js --scenario hello-world --out DIR

Options after the known ones go to ``interop run`` unchanged (``--fault``,
``--peer NAME=COMMAND``, ``--pairs``, ``-j``, ``--count``, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.matrix.results import (  # noqa: E402
    ERROR,
    FAIL,
    PASS,
    SKIPPED,
    UNSUPPORTED,
    XFAIL,
    XPASS,
    RunResult,
)

#: verdicts a soak accepts; everything else (and a missing cell) counts
EXPECTED = frozenset({PASS, XFAIL, UNSUPPORTED})
#: a cell of the selection that a run's results do not hold
MISSING = "missing"
#: one letter per run in the table
LETTER = {
    PASS: ".",
    XFAIL: "x",
    UNSUPPORTED: "u",
    SKIPPED: "s",
    XPASS: "X",
    FAIL: "F",
    ERROR: "E",
    MISSING: "-",
}


@dataclass
class Outcome:
    """One cell in one run: what it gave and where its artifacts are."""

    verdict: str
    reason: str = ""
    artifacts: str = ""


@dataclass
class Soak:
    """Every run's outcome per cell id, in selection order."""

    cells: list[str]
    runs: list[dict[str, Outcome]] = field(default_factory=list)
    run_dirs: list[Path] = field(default_factory=list)

    def add(self, run_dir: Path, results: RunResult | None, note: str) -> None:
        """Record one run; cells its results lack are ``missing`` with ``note`` as reason."""
        got: dict[str, Outcome] = {}
        if results is not None:
            for c in results.cells:
                folder = str(run_dir / c.artifacts) if c.artifacts else str(run_dir)
                got[c.id] = Outcome(c.verdict, c.reason, folder)
                if c.id not in self.cells:
                    self.cells.append(c.id)
        for cid in self.cells:
            got.setdefault(cid, Outcome(MISSING, note, str(run_dir)))
        self.runs.append(got)
        self.run_dirs.append(run_dir)

    def outcomes(self, cid: str) -> list[Outcome]:
        return [r.get(cid, Outcome(MISSING, "not in this run's selection")) for r in self.runs]

    def unexpected(self) -> int:
        return sum(1 for r in self.runs for o in r.values() if o.verdict not in EXPECTED)

    def bad_cells(self) -> list[str]:
        return [c for c in self.cells if any(o.verdict not in EXPECTED for o in self.outcomes(c))]


def render(soak: Soak) -> str:
    """The table of cells ever not as expected, then the summary line (always last)."""
    lines: list[str] = []
    bad = soak.bad_cells()
    if bad:
        width = max(len(c) for c in bad)
        legend = " ".join(f"{v}={k}" for k, v in LETTER.items())
        lines.append(f"cells not as expected ({legend}), one letter per run:")
        for cid in bad:
            outs = soak.outcomes(cid)
            marks = "".join(LETTER.get(o.verdict, "?") for o in outs)
            tally: dict[str, int] = {}
            for o in outs:
                tally[o.verdict] = tally.get(o.verdict, 0) + 1
            counts = ", ".join(f"{n} {v}" for v, n in tally.items())
            lines.append(f"  {cid:<{width}}  {marks}  ({counts})")
            for i, o in enumerate(outs):
                if o.verdict not in EXPECTED:
                    reason = f": {o.reason}" if o.reason else ""
                    lines.append(f"      run-{i + 1:03d} {o.verdict}{reason}")
                    lines.append(f"          {o.artifacts}")
    lines.append(f"{len(soak.runs)} runs, {len(soak.cells)} cells, {soak.unexpected()} unexpected")
    return "\n".join(lines) + "\n"


def _interop(args: list[str]) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from harness.cli import main; sys.exit(main())",
        *args,
    ]


def _env() -> dict[str, str]:
    """This clone's harness first on the path, whichever folder the soak runs from."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def list_cells(run_args: list[str]) -> list[str]:
    """The selection's cell ids (``interop run --list``); a bad selection ends the soak (exit 2)."""
    p = subprocess.run(
        _interop(["run", "--list", *run_args]),
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or [f"interop run --list exited {p.returncode}"])[-1]
        print(f"soak: {last}", file=sys.stderr)
        raise SystemExit(2)
    return [line for line in p.stdout.splitlines() if line.strip()]


def run_once(run_args: list[str], out: Path, timeout: float) -> tuple[RunResult | None, str]:
    """One ``interop run`` in its own process group; its results, or None and why not."""
    log = out.with_suffix(".log")
    with open(log, "w", encoding="utf-8") as f:
        proc = subprocess.Popen(
            _interop(["run", *run_args, "--out", str(out)]),
            stdout=f,
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            return None, f"the run did not end within {timeout:.0f} s (log: {log})"
        except KeyboardInterrupt:
            _stop(proc)
            raise
    try:
        return RunResult.load(out / "results.json"), ""
    except ValueError as e:
        return None, f"interop run exited {rc} without results ({e}; log: {log})"


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (interop stops its brokers), then SIGKILL the group after 30 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def _args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    # no abbreviations: --peer (interop run's, passed through) must not become --peers
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("--runs", type=int, required=True, help="how many times to run the matrix")
    ap.add_argument("--out", required=True, help="folder for every run's results (run-NNN)")
    ap.add_argument("--peers", help="comma list of implementations (interop run --peers)")
    ap.add_argument("--broker", help="comma list of brokers (interop run --broker)")
    ap.add_argument("--scenario", help="comma list of scenarios (interop run --scenario)")
    ap.add_argument(
        "--run-timeout", type=float, default=1800.0, help="seconds one run may take (default 1800)"
    )
    args, rest = ap.parse_known_args(argv)
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    if any(a == "--out" or a.startswith("--out=") for a in rest):
        ap.error("--out is the soak's folder; each run gets DIR/run-NNN")
    run_args = list(rest)
    for name in ("peers", "broker", "scenario"):
        value = getattr(args, name)
        if value is not None:
            run_args += [f"--{name}", value]
    return args, run_args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args, run_args = _args(argv)
    # Ctrl-C, or SIGTERM to a soak in the background (where SIGINT is ignored): the
    # current run is stopped and the table covers the runs finished so far
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    out = Path(args.out).resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"soak: --out {out}: {e.strerror or e}", file=sys.stderr)
        return 2
    soak = Soak(list_cells(run_args))
    print(f"soak: {args.runs} runs of {len(soak.cells)} cells -> {out}/", file=sys.stderr)
    try:
        for i in range(1, args.runs + 1):
            run_dir = out / f"run-{i:03d}"
            t0 = time.monotonic()
            results, note = run_once(run_args, run_dir, args.run_timeout)
            soak.add(run_dir, results, note)
            bad = sum(1 for o in soak.runs[-1].values() if o.verdict not in EXPECTED)
            took = time.monotonic() - t0
            extra = f" ({note})" if note else ""
            print(
                f"soak: run {i}/{args.runs}: {bad} unexpected, {took:.1f} s{extra}", file=sys.stderr
            )
            _save(soak, out)
    except KeyboardInterrupt:
        print(f"soak: interrupted after {len(soak.runs)} runs", file=sys.stderr)
    print(render(soak), end="")
    return 1 if soak.unexpected() else 0


def _save(soak: Soak, out: Path) -> None:
    """soak.json: every cell's verdicts per run, rewritten after each run (a partial soak counts)."""
    data = {
        "runs": [str(d) for d in soak.run_dirs],
        "cells": {cid: [o.verdict for o in soak.outcomes(cid)] for cid in soak.cells},
        "unexpected": soak.unexpected(),
    }
    tmp = out / "soak.json.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out / "soak.json")


if __name__ == "__main__":
    sys.exit(main())
