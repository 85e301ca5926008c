"""``interop conform``'s stdout-hygiene requirement: a peer's stdout carries JSON Lines only.

Why a requirement of its own: the harness reads a peer's stdout as the
contract's lines and never parses a library's log, yet JVM and Rust stacks
log by default (slf4j/logback, netty, tracing), some of them to stdout, and
the JVM prints its own warnings there. One stray line makes a cell's events
unreadable, and it tends to appear only when something goes wrong. So every
run conform makes of the candidate (usage errors, timeouts, listen, each
role) is recorded here, plus one run where libraries log the most (a
connection refused), and every line any of them printed on stdout must be a
JSON object.
"""

from __future__ import annotations

import socket
from typing import Any, Protocol


class _Run(Protocol):
    argv: list[str]
    lines: list[dict[str, Any]]
    bad: list[str]


class _Report(Protocol):
    def check(self, name: str, problem: str | None, detail: str = "") -> None: ...


class Seen:
    """Every process conform started (its Run), so the requirement sees them all."""

    def __init__(self) -> None:
        self.runs: list[Any] = []

    def add(self, run: Any) -> Any:
        self.runs.append(run)
        return run

    def of(self, argv: list[str]) -> list[Any]:
        """The runs of the candidate (its argv prefix), not the Python partner or the broker."""
        return [r for r in self.runs if r.argv[: len(argv)] == argv]


SEEN = Seen()


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stdout_problem(runs: list[_Run]) -> str | None:
    """The first stdout line that is not a JSON object, with the command that printed it."""
    for run in runs:
        if run.bad:
            role = run.argv[-1] if len(run.argv) == 1 else " ".join(run.argv[-6:])
            return f"non-JSON on stdout ({role}): {run.bad[0][:160]!r}"
    return None


def check_stdout(argv: list[str], report: _Report, proc: Any) -> None:
    """PASS when every stdout line of every candidate run was a JSON object.

    ``proc`` is conform's process class (``Proc(argv).finish(timeout)``): the
    extra run is a send against a refused port without reconnect, where
    client libraries log their connection errors.
    """
    url = f"amqp://127.0.0.1:{_refused_port()}"
    proc(argv + ["send", "--url", url, "--no-reconnect", "--timeout", "5"]).finish(15)
    runs = SEEN.of(argv)
    SEEN.runs.clear()  # the next conform in this process starts afresh
    lines = sum(len(r.lines) + len(r.bad) for r in runs)
    report.check(
        "stdout-json-only",
        stdout_problem(runs),
        f"{len(runs)} runs, {lines} stdout lines, every one a JSON object",
    )
