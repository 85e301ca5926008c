"""Ctrl-C (SIGINT) and SIGTERM on ``interop run``: prompt exit, no process left behind.

Why: a matrix run starts brokers and peers in their own process groups (so
one signal reaches all of a peer's children), which also means the
terminal's Ctrl-C never reaches them. If the harness does not take them down
itself, every interrupted run leaves brokers listening and peers spinning.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.env import ROOT

pytestmark = pytest.mark.slow

#: the processes of a run: reference peers and the embedded broker
WATCHED = ("peers/python/peer.py", "peers/python/broker.py")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of ``pid``, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descendants(root: int) -> dict[int, str]:
    """Every live process whose parent chain leads to ``root``: pid -> command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[0] not in ("Z", "X"):
                parents[int(entry.name)] = st[1]
    out = {}
    for pid in parents:
        cur, seen = pid, 0
        while cur in parents and seen < 64:
            cur, seen = parents[cur], seen + 1
            if cur == root:
                out[pid] = _cmdline(pid)
                break
    return out


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _interrupt_run(
    sig: signal.Signals,
    tmp_path: Path,
    argv: list[str] | None = None,
    inherit: signal.Handlers = signal.SIG_DFL,
) -> int:
    # the run's scratch folders go under tmp_path: after a SIGKILL nothing can remove them
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(scratch))
    argv = argv or [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        "--broker",
        "embedded",
        "--scenario",
        "at-least-once",
        "--peers",
        "python",
        "--count",
        "20000",
        "--out",
        str(tmp_path / "out"),
    ]
    proc = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, inherit),  # what the run inherits
    )
    seen: dict[int, str] = {}
    try:
        # let the cells get going: the broker and both peers of a cell are running
        started = time.monotonic()
        while True:
            found = {p: c for p, c in descendants(proc.pid).items() if any(w in c for w in WATCHED)}
            seen.update(found)
            peers_now = sum("peer.py" in c for c in found.values())
            if peers_now >= 2 and time.monotonic() - started >= 2.0:
                break
            assert time.monotonic() - started < 20, f"no two peers running within 20 s: {seen}"
            assert proc.poll() is None, proc.communicate(timeout=5)
            time.sleep(0.1)
        assert any("broker.py" in c for c in seen.values()), seen
        assert sum("peer.py" in c for c in seen.values()) >= 2, seen
        seen.update(
            {p: c for p, c in descendants(proc.pid).items() if any(w in c for w in WATCHED)}
        )
        t0 = time.monotonic()
        proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"interop run still running 10 s after {sig.name}") from None
        took = time.monotonic() - t0
        assert b"Traceback" not in err, err.decode()[-2000:]
        assert proc.returncode != 0 and took < 10
        # every peer and broker the run had is gone within 5 s of its exit (a SIGKILLed
        # harness runs no handler: only the children's parent-death signal can act)
        deadline = time.monotonic() + 5
        left = [p for p in seen if alive(p)]
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [p for p in seen if alive(p)]
        assert not left, {p: seen[p] for p in left}
        return proc.returncode
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for pid, cmd in seen.items():
            if alive(pid) and _cmdline(pid) == cmd:  # still the process we saw, not a reused pid
                try:
                    os.killpg(pid, signal.SIGKILL)  # each peer/broker leads its own group
                except (ProcessLookupError, PermissionError):
                    pass


def test_sigint_stops_the_run_and_every_process(tmp_path: Path) -> None:
    _interrupt_run(signal.SIGINT, tmp_path)


def test_sigint_stops_a_run_started_with_sigint_ignored(tmp_path: Path) -> None:
    """A background job of a non-interactive shell (``interop run &`` in a CI script) starts
    with SIGINT ignored; a runner that cancels with SIGINT must still stop it and its peers."""
    _interrupt_run(signal.SIGINT, tmp_path, inherit=signal.SIG_IGN)


def test_sigterm_stops_the_run_and_every_process(tmp_path: Path) -> None:
    _interrupt_run(signal.SIGTERM, tmp_path)


def test_sigkill_leaves_no_process_behind(tmp_path: Path) -> None:
    """No handler runs on SIGKILL: peers and brokers must go by their parent-death signal."""
    _interrupt_run(signal.SIGKILL, tmp_path)


def test_sigterm_stops_pytest_like_ctrl_c(tmp_path: Path) -> None:
    """The plugin turns SIGTERM into an interrupt, so pytest unwinds and stops its brokers.

    A RabbitMQ node or a container would outlive a pytest killed outright; exit
    status 2 (pytest's "interrupted") shows the session ended through its hooks.
    """
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "tests" / "interop" / "test_suite.py"),
        "--broker",
        "embedded",
        "--scenario",
        "at-least-once",
        "--fault",
        "none",
        "--peers",
        "python",
        "--interop-count",
        "20000",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        f"--basetemp={tmp_path / 'pt'}",
    ]
    assert _interrupt_run(signal.SIGTERM, tmp_path, argv) == 2
