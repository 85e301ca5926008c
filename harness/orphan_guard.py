"""Run a broker so that it dies with the harness, even when the harness is SIGKILLed.

Why a process of its own: a local broker runs in a session of its own, so a Ctrl-C at
the terminal reaches only the harness, which then stops the broker cleanly. Nothing
stops it when the harness itself is killed outright, and ``PR_SET_PDEATHSIG`` does not
help: it fires when the *thread* that forked the child ends, and brokers are started by
worker threads that end long before the broker should. So a small guard sits between
the harness and the broker, in the broker's process group, and watches the harness's
process (a pidfd: no polling). When the harness is gone it stops the group (SIGTERM,
SIGKILL after a grace period) and removes the broker's scratch folders.

The guard is otherwise transparent: a SIGTERM to the group reaches the broker, the
guard waits for it and exits with its status, so a clean shutdown stays clean.

Usage: ``python -m harness.orphan_guard HARNESS_PID [--cleanup DIR]... -- COMMAND...``
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence

GRACE_S = 10.0


def guarded(
    argv: list[str], cleanup: Sequence[str] = (), harness_pid: int | None = None
) -> list[str]:
    """The argv that runs ``argv`` under a guard watching this process (or ``harness_pid``)."""
    pid = os.getpid() if harness_pid is None else harness_pid
    folders = [a for path in cleanup for a in ("--cleanup", str(path))]
    return [sys.executable, "-m", "harness.orphan_guard", str(pid), *folders, "--", *argv]


def _parse(args: list[str]) -> tuple[int, list[str], list[str]]:
    if "--" not in args or not args or not args[0].isdigit():
        raise SystemExit("usage: python -m harness.orphan_guard PID [--cleanup DIR]... -- CMD...")
    head, cmd = args[: args.index("--")], args[args.index("--") + 1 :]
    if not cmd:
        raise SystemExit("orphan_guard: no command after --")
    cleanup = [head[i + 1] for i, a in enumerate(head) if a == "--cleanup" and i + 1 < len(head)]
    return int(head[0]), cleanup, cmd


def _status(rc: int) -> int:
    return 128 - rc if rc < 0 else rc


def _stop_group(child: subprocess.Popen[bytes], cleanup: list[str]) -> None:
    """The harness is gone: SIGTERM the group (the guard only notes it), SIGKILL after
    the grace period, remove the scratch folders, and last SIGKILL whatever is left of
    the group, the guard included."""
    os.killpg(0, signal.SIGTERM)
    try:
        child.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    for path in cleanup:
        shutil.rmtree(path, ignore_errors=True)
    os.killpg(0, signal.SIGKILL)


def _note(signum: int, frame: object) -> None:
    """A signal to the group is meant for the broker; the guard waits for it to end.

    A handler rather than SIG_IGN: ignored signals would be inherited by the broker."""


def main(args: list[str]) -> int:
    harness_pid, cleanup, cmd = _parse(args)
    signal.signal(signal.SIGTERM, _note)
    signal.signal(signal.SIGINT, _note)
    try:
        watched = os.pidfd_open(harness_pid)
    except ProcessLookupError:
        return 1  # the harness died before the guard started: start nothing
    child = subprocess.Popen(cmd)
    try:
        mine = os.pidfd_open(child.pid)
        ready, _, _ = select.select([watched, mine], [], [])
        if mine in ready:
            return _status(child.wait())
        _stop_group(child, cleanup)
        return 1
    finally:
        if child.poll() is None:  # an unexpected error in the guard itself
            child.kill()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
