"""Subprocesses that cannot outlive the harness.

Peers and brokers run in their own process group, so one signal reaches every
child they spawn (npm, a shell wrapper, Erlang's helpers). Each process is
registered until it is reaped; an ``atexit`` hook and the children's
parent-death signal cover the paths where a ``finally`` never runs (Ctrl-C in
the wrong place, a crashed worker). Every wait takes a timeout.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from harness.peer_lines import MAX_LINE, parse_line

_PR_SET_PDEATHSIG = 1


class Clock:
    """Seconds since a cell started; the one timeline of a trace."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0


class ProcessError(Exception):
    """A managed process did not do what was expected (exited early, bad output)."""


class ProcessTimeout(ProcessError):
    """A wait ran out; the message says what was awaited."""


_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def kill_all() -> None:
    """Kill every process still registered (atexit, signal handlers, test teardown)."""
    with _live_lock:
        procs = list(_live)
    for p in procs:
        p.kill()


def live_processes() -> list[ManagedProcess]:
    with _live_lock:
        return list(_live)


atexit.register(kill_all)

LineHandler = Callable[[float, dict[str, Any]], None]


class ManagedProcess:
    """One child process speaking JSON Lines on stdout (the peer contract).

    ``on_line(t, obj)`` is called from the reader thread for each JSON object
    read, stamped with ``clock``; lines that are not JSON objects are kept in
    ``bad_lines`` (a contract violation the runner reports).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        label: str,
        clock: Clock | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        on_line: LineHandler | None = None,
        on_eof: Callable[[], None] | None = None,
        stderr_path: str | os.PathLike[str] | None = None,
        pdeathsig: bool = True,
        stdin: int | None = subprocess.DEVNULL,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.label = label
        self.clock = clock or Clock()
        self.cwd = cwd
        self.env = env
        self.on_line = on_line
        self.on_eof = on_eof
        self.stderr_path = Path(stderr_path) if stderr_path else None
        self.pdeathsig = pdeathsig
        self.stdin = stdin
        self.lines: list[tuple[float, dict[str, Any]]] = []
        #: the text of each line in ``lines``, as the process printed it (the artifacts keep it)
        self.texts: list[str] = []
        self.bad_lines: list[str] = []
        self._stderr_tail: deque[str] = deque(maxlen=200)
        self._cond = threading.Condition()
        self._stdout_done = False
        self._threads: list[threading.Thread] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        #: when stdout closed (clock time): the process exited, or is about to
        self.eof_at: float | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> ManagedProcess:
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=self.stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=_set_pdeathsig if self.pdeathsig else None,
            )
        except OSError as e:
            raise ProcessError(
                f"{self.label}: cannot start {self.argv[0]}: {e.strerror or e}"
            ) from e
        self.started_at = self.clock.now()
        with _live_lock:
            _live.add(self)
        out = threading.Thread(target=self._read_stdout, name=f"{self.label}-out", daemon=True)
        err = threading.Thread(target=self._read_stderr, name=f"{self.label}-err", daemon=True)
        self._threads = [out, err]
        out.start()
        err.start()
        return self

    def span(self) -> tuple[float, float] | None:
        """(start, end) on the clock: end is when stdout closed, or when it was reaped."""
        if self.started_at is None:
            return None
        end = self.eof_at if self.eof_at is not None else self.ended_at
        return (self.started_at, end if end is not None else self.clock.now())

    @property
    def stdout_closed(self) -> bool:
        with self._cond:
            return self._stdout_done

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float) -> int:
        """Wait for exit; ``ProcessTimeout`` if it is still running after ``timeout`` s."""
        assert self.proc is not None, "not started"
        try:
            rc = self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            raise ProcessTimeout(f"{self.label} still running after {timeout:g} s") from None
        self._finish()
        return rc

    def wait_exit(self, timeout: float) -> bool:
        """Wait at most ``timeout`` s for the process to exit (no reaping of threads); True if it did."""
        if self.proc is None:
            return False
        try:
            self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return False
        return True

    def signal(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def terminate(self, grace: float = 2.0) -> int | None:
        """SIGTERM to the group, then SIGKILL after ``grace`` seconds; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole group (also any grandchildren left behind) and reap."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._finish()

    def _finish(self) -> None:
        if self.ended_at is None:
            self.ended_at = self.clock.now()
        for t in self._threads:
            t.join(timeout=2)
        with _live_lock:
            _live.discard(self)

    # -- output ------------------------------------------------------------

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stream: IO[bytes] = self.proc.stdout
        try:
            while raw := stream.readline(MAX_LINE):
                t = self.clock.now()
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not raw.endswith(b"\n") and len(raw) == MAX_LINE:
                    while (more := stream.readline(MAX_LINE)) and not more.endswith(b"\n"):
                        pass  # the rest of an over-long line: dropped, memory stays bounded
                    text = f"{text[:200]}... (a line longer than {MAX_LINE} bytes)"
                    obj = None
                elif not text.strip():
                    continue
                else:
                    obj = parse_line(text)  # never raises: bad output is a contract failure
                if obj is None:
                    with self._cond:
                        self.bad_lines.append(text[:500])
                    continue
                with self._cond:
                    self.lines.append((t, obj))
                    self.texts.append(text)
                    self._cond.notify_all()
                if self.on_line is not None:
                    try:
                        self.on_line(t, obj)
                    except Exception:  # a broken sink must not stop the reader
                        pass
        finally:
            with self._cond:
                self.eof_at = self.clock.now()
                self._stdout_done = True
                self._cond.notify_all()
            stream.close()
            if self.on_eof is not None:
                with contextlib.suppress(Exception):  # a broken waker must not stop the reader
                    self.on_eof()

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        sink = open(self.stderr_path, "wb") if self.stderr_path else None  # noqa: SIM115
        try:
            for raw in self.proc.stderr:
                if sink:
                    sink.write(raw)
                    sink.flush()
                self._stderr_tail.append(raw.decode("utf-8", "replace").rstrip("\n"))
        finally:
            if sink:
                sink.close()
            self.proc.stderr.close()

    def stderr_tail(self, n: int = 20) -> str:
        return "\n".join(list(self._stderr_tail)[-n:])

    def last_stderr_line(self) -> str:
        for line in reversed(self._stderr_tail):
            if line.strip():
                return line.strip()
        return ""

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        """The first line matching ``predicate``; raises if the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for _, obj in self.lines[seen:]:
                    if predicate(obj):
                        return obj
                seen = len(self.lines)
                if self._stdout_done:
                    rc = None
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        if self.proc is not None:
                            left = max(1.0, min(5.0, deadline - time.monotonic()))
                            rc = self.proc.wait(timeout=left)
                    # the stderr reader may lag the exit: its last line is the reason
                    if len(self._threads) > 1:
                        self._threads[1].join(timeout=1.0)
                    tail = self.last_stderr_line()
                    how = f"exited (code {rc})" if rc is not None else "closed its stdout"
                    raise ProcessError(
                        f"{self.label} {how} before {what}" + (f": {tail}" if tail else "")
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProcessTimeout(f"{self.label}: no {what} within {timeout:g} s")
                self._cond.wait(timeout=min(left, 0.5))

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """The contract's ``{"kind": "ready"}`` line."""
        return self.wait_for(lambda o: o.get("kind") == "ready", timeout, "ready line")

    @property
    def result(self) -> dict[str, Any] | None:
        with self._cond:
            for _, obj in reversed(self.lines):
                if obj.get("kind") == "result":
                    return obj
        return None

    def printed(self) -> list[str]:
        """The JSON object lines as printed, without re-encoding them."""
        with self._cond:
            return list(self.texts)

    def events(self) -> list[tuple[float, dict[str, Any]]]:
        with self._cond:
            return list(self.lines)

    def __enter__(self) -> ManagedProcess:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate(grace=1.0)


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so ``finally`` blocks and atexit run.

    SIGINT gets Python's own Ctrl-C handler even when it was inherited ignored:
    Python leaves an ignored SIGINT ignored, and a background job of a
    non-interactive shell (``interop run &`` in a CI script) starts that way, so
    a runner cancelling with SIGINT left the run and its brokers going.
    Only for the CLI's main thread; pytest has its own handling of Ctrl-C.
    """

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, handler)
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.default_int_handler)
