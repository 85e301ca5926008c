"""A results folder on disk for the HTML page tests: no sockets, no peers.

Four cells: a pass, a failure (a transfer before credit, on a link whose
name is an HTML injection attempt, plus an outcome failure), a harness
error with its traceback, and a failure whose artifact folder is gone.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.trace import invariants
from harness.trace.jsonl import write_trace
from harness.trace.render import render_trace
from tests.trace.builders import TraceBuilder, hello_trace

from .sample import cell, run

EVIL = "<script>alert(1)</script>"
ERROR_REASON = "error in stage broker-setup: IndexError: pop from an empty deque"
TRACEBACK = 'Traceback (most recent call last):\n  File "pipeline.py", line 1\nIndexError: pop'


def early_transfer_trace():
    """A sender that transfers before the broker's flow: breaks ``credit``."""
    tb = TraceBuilder()
    c = tb.conn("sender")
    c.open()
    c.attach_pair(EVIL, "sender")
    c.transfer("sender", 0, 0, msg_id=1, body={"sequence": 1})
    c.s("flow", handle=0, delivery_count=1, link_credit=100)
    for i in range(1, 40):
        c.transfer("sender", 0, i, msg_id=i + 1, body={"sequence": i + 1})
        tb.peer("sender", "sent", id=i + 1)
        c.accept("broker", i)
        tb.peer("sender", "accepted", id=i + 1)
    c.close()
    return tb.events


def _folder(out: Path, c, events, failures, extra: dict[str, str] | None = None) -> None:
    d = out / c.artifacts
    d.mkdir(parents=True)
    write_trace(d / "trace.jsonl", events)
    if c.verdict != "pass":  # as harness.artifacts writes it
        (d / "trace.txt").write_text(render_trace(events) + "\n")
    (d / "commands.txt").write_text("python3 peers/python/peer.py send --url amqp://x\n")
    (d / "sender.stdout.jsonl").write_text('{"kind": "result", "ok": true}\n')
    data = c.to_json()
    data["failures"] = failures
    (d / "verdict.json").write_text(json.dumps(data, indent=2))
    for name, text in (extra or {}).items():
        (d / name).write_text(text)


def write_results(out: Path):
    """The run, saved as ``out/results.json`` with its cell folders; returns the run."""
    ok = cell("hello-world", ("python",), artifacts="hello-world-python-embedded")
    bad = cell(
        verdict="fail",
        artifacts="at-least-once-python_to_js-embedded",
        rule="credit",
        figures={"count": 40, "receiver.duplicates": 0, "frames": 90},
        rerun="interop run --broker embedded --cell 'at-least-once-python->js-embedded'",
    )
    err = cell(
        "direct", ("js", "python"), broker="", verdict="error", reason=ERROR_REASON,
        artifacts="direct-js_to_python",
    )  # fmt: skip
    gone = cell(peers=("js", "python"), verdict="fail", reason="lost", artifacts="gone")
    events = early_transfer_trace()
    [v] = invariants.check(events, rules=["credit"])
    bad.reason = f"[credit] {v.message}"
    failures = [
        {"rule": "credit", "message": v.message, "detail": ""},
        {"rule": "nothing-lost", "message": f"receiver never got id 7 <{EVIL}>", "detail": ""},
    ]
    r = run([ok, bad, err, gone], command="interop run --peers python,js", duration_s=12.3)
    r.started_at = "2026-12-05T06:00:00+00:00"
    _folder(out, ok, hello_trace(), [])
    _folder(out, bad, events, failures, {"broker.log.txt": "broker says hi\n"})
    _folder(out, err, [], [], {"error.txt": f"{ERROR_REASON}\n\n{TRACEBACK}\n"})
    r.save(out / "results.json")
    return r
