"""The pytest plugin's ``--pairs``: the same cells as ``interop run --pairs``, the same one-line errors.

Why: CI runs the suite through pytest and maintainers through ``interop
run``; a pair mode that picked different cells in the two would make their
results incomparable.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.env import ROOT

SELECTION = ["--peers", "python,js", "--scenario", "hello-world,at-least-once", "--fault", "none"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env={**os.environ, "CI": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _collected(pairs: str) -> list[str]:
    p = _run(
        ["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/interop/test_suite.py", *SELECTION, "--pairs", pairs]
    )  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    return [
        line.partition("[")[2][:-1] for line in p.stdout.splitlines() if "::test_interop[" in line
    ]


@pytest.mark.parametrize("pairs", ["all", "with:js", "self", "cover"])
def test_pytest_collects_the_cells_interop_run_lists(pairs: str) -> None:
    listed = _run(["-m", "harness.cli", "run", "--list", *SELECTION, "--pairs", pairs])
    assert listed.returncode == 0, listed.stderr
    assert _collected(pairs) == listed.stdout.split()


def test_with_js_in_pytest() -> None:
    assert _collected("with:js") == [
        "hello-world-js-embedded",
        "at-least-once-python->js-embedded",
        "at-least-once-js->python-embedded",
        "at-least-once-js->js-embedded",
    ]


def test_a_bad_pairs_mode_is_a_usage_error() -> None:
    p = _run(
        ["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/interop/test_suite.py", *SELECTION, "--pairs", "with:go"]
    )  # fmt: skip
    assert p.returncode == 4  # pytest's usage error
    assert "--pairs with:go: go is not among the selected peers (python, js)" in p.stderr
    assert "Traceback" not in p.stderr + p.stdout
