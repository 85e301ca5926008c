"""One compiled peer binary per cache key, built once however many workers ask.

The C++ and go peers share this: a folder named by the digest of what the
binary is built from, a file lock so parallel pytest workers or terminals
build it once, and an atomic rename so nobody ever runs half a binary.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.announce import announced


def build_once(target_dir: Path, what: str, make: Callable[[Path], None]) -> Path:
    """``target_dir/peer``, made by ``make(tmp_path)`` under a lock if it is not there yet.

    ``make`` writes the binary to the path it is given (and may leave other
    files in ``target_dir``); a first build says so on stderr, as ``what``
    with its time. An exception from ``make`` leaves no binary behind.
    """
    binary = target_dir / "peer"
    if os.access(binary, os.X_OK):
        return binary
    target_dir.mkdir(parents=True, exist_ok=True)
    with open(target_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building the same digest
        if os.access(binary, os.X_OK):
            return binary
        fd, tmp_name = tempfile.mkstemp(prefix=".peer.", dir=target_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            with announced(what, note=f"first run, kept in {target_dir}"):
                make(tmp)
            tmp.chmod(0o755)
            os.replace(tmp, binary)
        finally:
            tmp.unlink(missing_ok=True)
    return binary
