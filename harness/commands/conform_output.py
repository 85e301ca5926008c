"""The peer contract's output rules, without processes: what one run of a peer printed.

``interop conform`` judges every run it makes by these (peers/CONTRACT.md):
JSON objects only, line kinds and event names from the harness's vocabulary,
one result line, last, naming the role. Kept apart from the code that starts
and times the runs, so the rules read (and can be tested) on their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REQUIRED_EVENTS", "RESULT_FIELDS", "VOCABULARY", "Run", "output_problem", "shown"]

VOCABULARY = frozenset(
    "connection_opened link_opened sendable sent accepted released rejected modified settled "
    "message disconnected connection_error link_error transport_error connection_closed".split()
)
#: events each role must report when it runs through a broker (unless declared unreported)
REQUIRED_EVENTS = {
    "hello": (
        "connection_opened",
        "link_opened",
        "sendable",
        "sent",
        "message",
        "connection_closed",
    ),
    "send": ("connection_opened", "link_opened", "sendable", "sent", "accepted"),
    "receive": ("connection_opened", "link_opened", "message"),
    "serve": ("connection_opened", "link_opened", "message", "sent"),
    "request": ("connection_opened", "link_opened", "sent", "message"),
}
#: fields each role's result must have, beyond role, ok and options
RESULT_FIELDS = {
    "hello": ("received",),
    "send": ("count", "sent", "confirmed", "resent", "reconnects"),
    "receive": ("count", "received", "duplicates", "missing", "reconnects"),
    "serve": ("served",),
    "request": ("requests", "replies", "reply_to"),
}


@dataclass
class Run:
    """What one peer process did: exit code, JSON lines, non-JSON lines, stderr, time."""

    argv: list[str]
    code: int | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    stderr: str = ""
    seconds: float = 0.0


def shown(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return repr(text[:n] + ("..." if len(text) > n else ""))


def output_problem(run: Run, role: str) -> str | None:
    """The contract's output rules on one run: JSON objects only, kinds, vocabulary, the result."""
    if run.bad:
        return f"non-JSON on stdout: {shown(run.bad[0])}"
    for line in run.lines:
        kind = line.get("kind")
        if kind not in ("ready", "event", "timeout", "result"):
            return f"a line without a known kind: {shown(json.dumps(line))}"
        if kind == "event" and line.get("name") not in VOCABULARY:
            return f"event {line.get('name')!r} is not in the harness's vocabulary"
    results = [x for x in run.lines if x.get("kind") == "result"]
    if len(results) != 1:
        return f"{len(results)} result lines (exactly one expected); exit {run.code}"
    if run.lines[-1].get("kind") != "result":
        return f"the result is not the last line: {shown(json.dumps(run.lines[-1]))}"
    result = results[0]
    if result.get("role") != role or not isinstance(result.get("ok"), bool):
        return f"result without role {role!r} and a bool ok: {shown(json.dumps(result))}"
    if not isinstance(result.get("options"), dict):
        return "the result has no options object"
    return None
