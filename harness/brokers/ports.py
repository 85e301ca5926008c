"""Ports for brokers: fixed for a broker's life, and outside the range the kernel hands out.

Why: a broker keeps its port across a restart (the taps reconnect to it), so
its port is chosen before it binds it and must stay free while it is down: a
node booting, a broker restarting. A port that ``bind(0)`` returned lies in
the kernel's ephemeral range, where the taps of every cell and every
outgoing connection of every process on the machine take ports too. Seen
under pytest-xdist at four workers: another worker's tap took a node's port
in such a gap, and the node's cells talked to that tap instead.

So broker ports come from just below the ephemeral range
(``net.ipv4.ip_local_port_range``), where the kernel never hands a port out
on its own. Among harness processes, a lock file per port in the user's
cache folder (``flock``, dropped by the kernel when its holder dies) keeps
two brokers off one port; a port something else listens on is skipped.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import socket
from pathlib import Path

from harness.env import cache_dir

__all__ = ["PortLease", "broker_port_range", "lease_ports"]

#: how many ports below the ephemeral range the brokers draw from
SPAN = 8192
#: the kernel's default ephemeral range starts here (and a BSD's later)
DEFAULT_EPHEMERAL_LOW = 32768
RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"


def broker_port_range(range_file: str = RANGE_FILE) -> range:
    """The ports brokers are given: the ``SPAN`` ports just below the ephemeral range."""
    low = DEFAULT_EPHEMERAL_LOW
    try:
        with open(range_file, encoding="ascii") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return range(max(1024, low - SPAN), low)


class PortLease:
    """Ports held for one broker until ``release()`` (or the end of the process)."""

    def __init__(self, ports: list[int], locks: list[int]) -> None:
        self.ports = ports
        self._locks = locks

    def release(self) -> None:
        """Let other harness processes have the ports again. Idempotent."""
        locks, self._locks = self._locks, []
        for fd in locks:
            os.close(fd)  # closing the file drops its flock


def _lock_dir() -> Path:
    d = cache_dir() / "ports"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _try_lock(folder: Path, port: int) -> int | None:
    """The open, locked lock file of ``port``, or None when another process holds it."""
    fd = os.open(folder / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def _bindable(port: int) -> bool:
    """Whether nothing listens on (or holds) ``port`` on loopback now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def lease_ports(n: int, ports: range | None = None) -> PortLease:
    """``n`` distinct ports for one broker, each locked against other harness processes.

    Raises ``OSError`` when the range has not that many free ports.
    """
    pool = ports if ports is not None else broker_port_range()
    folder = _lock_dir()
    start = random.randrange(len(pool))  # processes starting together spread out
    got: list[int] = []
    locks: list[int] = []
    for k in range(len(pool)):
        if len(got) == n:
            break
        port = pool[(start + k) % len(pool)]
        fd = _try_lock(folder, port)
        if fd is None:
            continue
        if _bindable(port):
            got.append(port)
            locks.append(fd)
        else:
            os.close(fd)
    if len(got) < n:
        PortLease(got, locks).release()
        raise OSError(f"no {n} free ports for a broker in {pool.start}-{pool.stop - 1}")
    return PortLease(got, locks)
