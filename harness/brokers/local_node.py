"""A broker as local processes: folders another user can reach, free ports, and finding its processes.

The ``rabbitmq`` provider runs a node as user ``rabbitmq`` with its own epmd,
which daemonises out of the node's process group. Every process of a node
carries a marker variable in its environment (``rabbitmq_config.MARKER`` =
the node's token); ``marked_pids`` finds them through ``/proc`` and
``kill_marked`` ends what ``stop()`` would otherwise leave behind.
"""

from __future__ import annotations

import os
import signal
import stat
import time

from harness.brokers.rabbitmq_config import MARKER as _MARKER

__all__ = ["kill_marked", "marked_pids", "traversable_by_others"]


def traversable_by_others(path: str) -> bool:
    """True when every ancestor of ``path`` lets another user through (o+x)."""
    path = os.path.abspath(path)
    while True:
        try:
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
        except FileNotFoundError:
            pass
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def marked_pids(token: str) -> list[int]:
    """Processes whose environment carries this node's marker (any user; needs root for others')."""
    needle = f"{_MARKER}={token}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def kill_marked(token: str, grace_s: float = 3.0) -> None:
    """Whatever still carries the marker (epmd left its group): TERM, then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = marked_pids(token)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and marked_pids(token):
            time.sleep(0.05)
