"""scripts/soak.py: N real runs, a table of the cells ever not as expected, the summary line.

Why: the soak's figure is only worth something if a failure that happens in
one run out of N shows up in it, with the run and the folder to look at.
So the selection holds a deterministic failure (``broken.py no-detach``) and
a planted flaky one (a peer that fails only on its first invocation), next
to a passing cell, and the script is run for real (brokers, peers, taps).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from harness import resources
from harness.env import ROOT
from harness.matrix.results import CellResult, RunResult

SOAK = ROOT / "scripts" / "soak.py"
BROKEN = resources.peer_file("python", "broken.py")
PEER = resources.peer_file("python", "peer.py")

#: fails (exit 1, nothing done) the first time it runs, then is the reference peer
FLAKY = """\
import os, sys
mark = sys.argv[1]
args = sys.argv[2:]
if not os.path.exists(mark):
    open(mark, "w").close()
    print("planted failure: first invocation", file=sys.stderr)
    sys.exit(1)
os.execv(sys.executable, [sys.executable, {peer!r}, *args])
"""


def _load_soak():
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _soak(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SOAK), *args],
        cwd=tmp_path,
        env={**os.environ, "CI": "false"},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_clean_selection_ends_with_the_summary_line_and_exit_0(tmp_path):
    out = tmp_path / "soak"
    p = _soak(
        tmp_path, "--runs", "2", "--peers", "python", "--scenario", "hello-world", "--out", str(out)
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["2 runs, 1 cells, 0 unexpected"]
    for n in ("run-001", "run-002"):
        assert (out / n / "results.json").is_file()
    data = json.loads((out / "soak.json").read_text())
    assert data["cells"] == {"hello-world-python-embedded": ["pass", "pass"]}


def test_planted_failures_are_counted_with_their_runs_and_folders(tmp_path):
    flaky = tmp_path / "flaky.py"
    flaky.write_text(FLAKY.format(peer=str(PEER)))
    mark = tmp_path / "flaky.mark"
    out = tmp_path / "soak"
    p = _soak(
        tmp_path,
        "--runs",
        "2",
        "--peers",
        "python,nodetach,flaky",
        "--peer",
        f"nodetach={sys.executable} {BROKEN} no-detach",
        "--peer",
        f"flaky={sys.executable} {flaky} {mark}",
        "--scenario",
        "hello-world",
        "--out",
        str(out),
    )
    assert p.returncode == 1, p.stderr
    lines = p.stdout.splitlines()
    # no-detach fails in both runs, flaky in the first only; python passes twice
    assert lines[-1] == "2 runs, 3 cells, 3 unexpected"
    table = "\n".join(lines)
    assert "hello-world-python-embedded" not in table
    assert "hello-world-nodetach-embedded  FF  (2 fail)" in table
    assert "hello-world-flaky-embedded     F.  (1 fail, 1 pass)" in table
    assert f"{out}/run-001/hello-world-flaky-embedded" in table
    assert f"{out}/run-002/hello-world-flaky-embedded" not in table
    assert f"{out}/run-002/hello-world-nodetach-embedded" in table


def test_a_bad_selection_is_one_line_and_exit_2(tmp_path):
    p = _soak(tmp_path, "--runs", "1", "--peers", "nosuchpeer", "--out", str(tmp_path / "s"))
    assert p.returncode == 2
    assert p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1
    assert "nosuchpeer" in p.stderr


def test_runs_must_be_positive(tmp_path):
    p = _soak(tmp_path, "--runs", "0", "--out", str(tmp_path / "s"))
    assert p.returncode == 2
    assert "--runs must be >= 1" in p.stderr


def _run(*cells: CellResult) -> RunResult:
    return RunResult(cells=list(cells))


def _cell(cid: str, verdict: str, reason: str = "") -> CellResult:
    return CellResult(cid, "hello-world", "none", "embedded", {}, verdict, reason, artifacts=cid)


def test_expected_verdicts_and_missing_cells(tmp_path):
    soak = _load_soak()
    s = soak.Soak(["a", "b", "c", "d"])
    s.add(
        tmp_path / "run-001",
        _run(
            _cell("a", "pass"), _cell("b", "xfail"), _cell("c", "unsupported"), _cell("d", "xpass")
        ),
        "",
    )
    s.add(tmp_path / "run-002", None, "the run did not end within 5 s")
    s.add(
        tmp_path / "run-003",
        _run(
            _cell("a", "skipped"),
            _cell("b", "xfail"),
            _cell("c", "error", "drive stage"),
            _cell("d", "xfail"),
        ),
        "",
    )
    # run 1: xpass; run 2: all four missing; run 3: skipped and error
    assert s.unexpected() == 1 + 4 + 2
    assert s.bad_cells() == ["a", "b", "c", "d"]
    text = soak.render(s)
    assert text.splitlines()[-1] == "3 runs, 4 cells, 7 unexpected"
    assert "  a  .-s  (1 pass, 1 missing, 1 skipped)" in text
    assert "run-002 missing: the run did not end within 5 s" in text
    assert "run-003 error: drive stage" in text
    assert f"{tmp_path}/run-003/c" in text


def test_sigterm_ends_the_soak_with_the_table_of_the_runs_so_far(tmp_path):
    """A background soak (SIGINT ignored there) is stopped with SIGTERM and still reports."""
    import signal
    import time

    out = tmp_path / "soak"
    args = ["--runs", "50", "--peers", "python", "--scenario", "hello-world", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, str(SOAK), *args],
        cwd=tmp_path,
        env={**os.environ, "CI": "false"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "soak.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)  # soak.json is written after each run
        assert (out / "soak.json").exists(), "no run finished in 120 s"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, stderr
    last = stdout.splitlines()[-1]
    n = int(last.split()[0])
    assert 1 <= n < 50 and last == f"{n} runs, 1 cells, 0 unexpected"
    assert "interrupted after" in stderr
