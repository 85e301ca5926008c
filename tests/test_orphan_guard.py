"""The orphan guard: a broker dies with the harness even when the harness is SIGKILLed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness import orphan_guard


def _gone(pid: int, within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _harness_with_guarded_child(tmp_path: Path, child: str) -> tuple[subprocess.Popen, int]:
    """A stand-in harness that starts a guarded child, prints its pid, then waits."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (tmp_path / "child.py").write_text(child)
    script = textwrap.dedent(
        f"""
        import subprocess, sys, time
        from harness import orphan_guard
        argv = orphan_guard.guarded([sys.executable, {str(tmp_path / "child.py")!r}],
                                    cleanup=[{str(scratch)!r}])
        p = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE)
        print(p.stdout.readline().decode().strip(), flush=True)
        time.sleep(60)
        """
    )
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    line = harness.stdout.readline().decode().strip()
    return harness, int(line)


def test_the_broker_and_its_folder_go_when_the_harness_is_killed(tmp_path: Path) -> None:
    child = "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n"
    harness, pid = _harness_with_guarded_child(tmp_path, child)
    try:
        assert not _gone(pid, 0.3)
        harness.kill()
        harness.wait()
        assert _gone(pid, 5.0), "the guarded child outlived a SIGKILLed harness"
        assert _gone_path(tmp_path / "scratch", 5.0)
    finally:
        harness.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _gone_path(path: Path, within: float) -> bool:
    end = time.monotonic() + within
    while path.exists() and time.monotonic() < end:
        time.sleep(0.05)
    return not path.exists()


def test_sigterm_to_the_group_reaches_the_broker_and_its_status_comes_back(
    tmp_path: Path,
) -> None:
    child = textwrap.dedent(
        """
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    (tmp_path / "child.py").write_text(child)
    argv = orphan_guard.guarded([sys.executable, str(tmp_path / "child.py")])
    p = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == b"ready"
        os.killpg(p.pid, signal.SIGTERM)
        assert p.wait(timeout=10) == 7  # the broker's clean exit, not the guard's death
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)


def test_the_child_exits_on_its_own_and_the_guard_follows(tmp_path: Path) -> None:
    argv = orphan_guard.guarded([sys.executable, "-c", "raise SystemExit(3)"])
    assert subprocess.run(argv, timeout=10).returncode == 3


def test_bad_usage_is_one_line() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "harness.orphan_guard", "nope"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert r.returncode != 0
    assert r.stderr.strip().startswith("usage:")
    assert len(r.stderr.strip().splitlines()) == 1
