"""``interop run`` and the pytest plugin give the same verdicts for the same selection.

Why: both front doors go through one session (``harness.session.Session``):
selection, broker leases, the cell pipeline. If they drifted, a cell could
pass in CI's pytest run and fail in the matrix a maintainer reads, or the
other way round. The selection holds a passing peer, a broken one (fails)
and one that does not exist (skipped on a laptop), so three verdicts are
compared, not only passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

from harness import resources
from harness.env import ROOT

BROKEN = resources.peer_file("python", "broken.py")
SELECTION = [
    "--broker",
    "embedded",
    "--scenario",
    "hello-world",
    "--peers",
    "python,nodetach,ghost",
    "--peer",
    f"nodetach={sys.executable} {BROKEN} no-detach",
    "--peer",
    "ghost=/nonexistent/ghost-peer",
]

#: how a results.json verdict shows in pytest's JUnit file
AS_PYTEST = {
    "pass": "passed",
    "fail": "failed",
    "error": "failed",
    "xfail": "skipped",
    "unsupported": "skipped",
    "skipped": "skipped",
}


def _pytest_outcomes(junit: str) -> dict[str, str]:
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        cell = case.get("name", "").partition("[")[2].rstrip("]")
        if case.find("failure") is not None or case.find("error") is not None:
            out[cell] = "failed"
        elif case.find("skipped") is not None:
            out[cell] = "skipped"
        else:
            out[cell] = "passed"
    return out


def test_interop_run_and_pytest_agree_on_every_cell(tmp_path):
    env = {**os.environ, "CI": "false"}
    run = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", *SELECTION, "--out", str(tmp_path / "run")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr  # the broken peer's cell fails
    cells = json.loads((tmp_path / "run" / "results.json").read_text())["cells"]
    verdicts = {c["id"]: c["verdict"] for c in cells}
    assert set(verdicts.values()) == {"pass", "fail", "skipped"}, verdicts

    junit = tmp_path / "junit.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "tests" / "interop" / "test_suite.py"),
            *SELECTION,
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            f"--basetemp={tmp_path / 'pt'}",
            f"--junitxml={junit}",
            "-q",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert _pytest_outcomes(str(junit)) == {cid: AS_PYTEST[v] for cid, v in verdicts.items()}


def test_a_bad_name_is_one_usage_line_from_both(tmp_path):
    bad = ["--broker", "embedded", "--fault", "nosuchplan"]
    run = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", *bad],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    pt = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "tests" / "interop" / "test_suite.py"),
            *bad,
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'pt'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and pt.returncode == 4  # pytest's usage-error exit
    line = "unknown fault plan 'nosuchplan'"
    assert line in run.stderr and run.stderr.count("\n") == 1, run.stderr
    assert line in pt.stderr and "Traceback" not in pt.stderr, pt.stderr
