"""scripts/bench_long.py: bad pairs are one line and exit 2, and leave no folder behind.

Its figures come from real runs (README); this only holds its front door.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.env import ROOT


@pytest.mark.parametrize(
    ("pairs", "line"),
    [
        ("go", "error: --pairs wants SENDER:RECEIVER items, got 'go'"),
        ("go:", "error: --pairs wants SENDER:RECEIVER items, got 'go:'"),
        ("go:nope", "error: unknown peer 'nope' (known: "),
    ],
)
def test_bad_pairs_are_one_line_and_exit_2(tmp_path: Path, pairs: str, line: str) -> None:
    p = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_long.py"), "--pairs", pairs],
        capture_output=True, text=True, timeout=60, env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert p.returncode == 2
    assert p.stderr.startswith(line) and len(p.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no artifact folder for a run that never started
