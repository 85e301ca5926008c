"""A peer (or broker) process for the peer tests: own process group, stdout read as JSON Lines.

Shared by the tests of every peer implementation, so each reads its peer's
contract output the same way, with the same timeouts and the same cleanup.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from typing import Any

WAIT_S = 20.0  # generous: 2 cores, xdist workers


class Proc:
    """A peer (or broker) process in its own process group, its stdout read as JSON Lines."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.lines: list[dict[str, Any]] = []
        self._buf = b""

    def read_line(self, deadline: float) -> bool:
        """Read what stdout has until one more line arrives or the deadline passes."""
        assert self.popen.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.popen.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return False
                chunk = os.read(self.popen.stdout.fileno(), 65536)
                if not chunk:
                    return False
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\n", 1)
        self.lines.append(json.loads(raw))
        return True

    def wait_line(self, kind: str, timeout: float = WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = len(self.lines)
        while True:
            for line in self.lines[seen:]:
                if line.get("kind") == kind:
                    return line
            seen = len(self.lines)
            if not self.read_line(deadline):
                raise AssertionError(
                    f"no {kind!r} line from {self.argv[1:]} within {timeout} s; got {self.lines}"
                )

    def finish(self, timeout: float = WAIT_S) -> tuple[int, list[dict[str, Any]], str]:
        """Wait for exit; return (exit code, all stdout lines, stderr)."""
        try:
            out, err = self.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.popen.communicate(timeout=5)
            raise AssertionError(
                f"{self.argv[1:]} did not exit within {timeout} s; stdout so far: {self.lines}"
            ) from None
        data = self._buf + out
        self._buf = b""
        self.lines += [json.loads(x) for x in data.splitlines() if x.strip()]
        return self.popen.returncode, self.lines, err.decode(errors="replace")

    def kill(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
