"""Unix and CI manners of the front doors: --version, closed pipes, an unwritable cache,
and the GitHub job summary from ``interop run`` and the pytest plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.commands.summary import append_step_summary
from harness.env import ROOT
from harness.matrix.results import CellResult, RunResult

CLI = [sys.executable, "-m", "harness.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"GITHUB_STEP_SUMMARY", "INTEROP_DEBUG"}}
    env.update(extra)
    return env


def _run(argv: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=_env(**extra), capture_output=True, text=True, timeout=120, check=False
    )


def test_version() -> None:
    done = _run([*CLI, "--version"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("interop 0.1.0 (amqp-interop, Python ")


def test_a_closed_pipe_ends_quietly_with_status_141() -> None:
    """``interop scenarios | head -0``: no "Broken pipe" line, the status a shell expects."""
    proc = subprocess.Popen(
        [*CLI, "scenarios"], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first write
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""


def test_run_with_an_unwritable_cache_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = _run(
        [*CLI, "run", "--peers", "python", "--scenario", "hello-world", "--out", tmp_path / "o"],
        INTEROP_CACHE=str(blocker / "cache"),
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "INTEROP_CACHE" in done.stderr and "Traceback" not in done.stderr


def test_peers_built_into_an_unwritable_cache_are_listed_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = _run([*CLI, "peers"], INTEROP_CACHE=str(blocker / "cache"))
    assert done.returncode == 0, done.stderr
    rows = {ln.split()[0]: ln.split()[1] for ln in done.stdout.splitlines() if ln[:1].strip()}
    assert rows["cpp"] == rows["js"] == "unavailable"
    assert rows["python"] in {"available", "unavailable"}  # needs no cache either way
    assert f"cache folder {blocker / 'cache'} is not writable" in done.stdout


def _run_result() -> RunResult:
    cell = CellResult(
        id="hello-world-python-embedded",
        scenario="hello-world",
        fault="none",
        broker="embedded",
        roles={"peer": "python"},
        verdict="pass",
    )
    return RunResult(cells=[cell], command="interop run")


def test_step_summary_appends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert not append_step_summary(_run_result())
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert append_step_summary(_run_result())
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "| hello-world | pass |" in text
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "no" / "such" / "folder"))
    assert not append_step_summary(_run_result())  # one line on stderr, never an exception


def test_pytest_plugin_writes_the_step_summary_from_xdist_workers(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    argv = [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"]
    argv += [str(ROOT / "tests" / "interop" / "test_suite.py"), "--peers", "python"]
    argv += ["--scenario", "hello-world,request-response", "--basetemp", str(tmp_path / "bt")]
    done = subprocess.run(
        argv,
        cwd=ROOT,
        env=_env(GITHUB_STEP_SUMMARY=str(summary)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    text = summary.read_text()
    assert text.count("# Interop matrix") == 1  # the controller's, not one per worker
    assert "| hello-world | pass |" in text and "| request-response | pass |" in text
    assert "## embedded: amqp-interop-broker" in text  # the workers' broker identity


def test_default_jobs_is_one_more_than_the_cpus_at_most_four() -> None:
    """A cell also waits (peers starting, reconnects): one spare cell fills the gaps."""
    from harness.commands.run import default_jobs

    assert [default_jobs(n) for n in (1, 2, 3, 4, 16)] == [2, 3, 4, 4, 4]
    assert 2 <= default_jobs() <= 4
