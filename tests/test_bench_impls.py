"""scripts/bench_impls.py: bad options are one line and exit 2 (its figures come from real runs)."""

from __future__ import annotations

import subprocess
import sys

from harness.env import ROOT


def test_zero_rounds_is_one_line_and_exit_2() -> None:
    p = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_impls.py"), "--rounds", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 2
    assert p.stderr.strip() == "bench_impls: --rounds must be >= 1"
