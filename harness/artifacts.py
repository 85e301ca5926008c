"""A cell's folder: what a person reads to see what happened, without the harness.

Written whatever stage failed: the trace (JSONL), each peer's stdout
(stderr is written live by the process runner), the commands that started
the peers, the readable ``trace.txt`` and the broker's log tail when the cell
did not pass, ``verdict.json`` always, and ``error.txt`` with the traceback
when the harness itself failed.

``trace.txt`` is left out for a passing cell because rendering it was the
largest single cost of a cell's harness time (a third of the artifact stage),
paid for a file nobody reads when the cell passed; ``interop trace FOLDER``
prints the same text from ``trace.jsonl`` whenever it is wanted.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.cell_state import CellState
from harness.matrix.results import PASS, XFAIL
from harness.read_once import read_once
from harness.trace.fold import fold_events
from harness.trace.jsonl import write_trace
from harness.trace.render import render_trace
from harness.trace.spool import MergedTrace

#: lines of the broker's own log kept with a cell that did not pass
BROKER_LOG_LINES = 200


def write_run_artifacts(st: CellState) -> None:
    """Trace, peer stdout and commands, as far as the cell got."""
    d = st.cell_dir
    events = st.events or st.trace.sorted()
    if isinstance(events, MergedTrace):  # on disk: read once, for the checks too
        read_once(st, events)  # sets stored_events with the rest
    else:
        st.stored_events = fold_events(events)
    write_trace(d / "trace.jsonl", st.stored_events or [], fold=False)
    (d / "commands.txt").write_text("\n".join(st.commands) + "\n")
    for label, p in st.procs.items():
        (d / f"{label}.stdout.jsonl").write_text("".join(line + "\n" for line in p.printed()))


def write_outcome(st: CellState) -> None:
    """``verdict.json`` (always), ``error.txt`` for a harness fault, the broker log for a non-pass."""
    d = st.cell_dir
    d.mkdir(parents=True, exist_ok=True)
    if st.error is not None:
        (d / "error.txt").write_text(f"{st.error.reason}\n\n{st.error.traceback}".rstrip() + "\n")
    if st.result.verdict != PASS and (d / "trace.jsonl").exists():
        # the stored (folded) trace when there is one: what render_trace would fold it to
        events = st.stored_events if st.stored_events is not None else st.events
        (d / "trace.txt").write_text(render_trace(events or st.trace.sorted()) + "\n")
    if st.broker is not None and st.result.verdict not in (PASS, XFAIL):
        _write_broker_log(d, st)
    data = st.result.to_json()
    data["failures"] = [
        {"rule": f.rule, "message": f.message, "detail": f.detail} for f in st.failures
    ]
    data["timings"] = st.timings()  # where the wall time went (scripts/bench_matrix.py)
    (d / "verdict.json").write_text(json.dumps(data, indent=2) + "\n")


def _write_broker_log(d: Path, st: CellState) -> None:
    assert st.broker is not None
    try:
        text = st.broker.logs()
    except Exception as e:  # noqa: BLE001 - a log we cannot read must not hide the verdict
        text = f"(broker log not readable: {type(e).__name__}: {e})"
    if text:
        tail = text.splitlines()[-BROKER_LOG_LINES:]
        (d / "broker.log.txt").write_text("\n".join(tail) + "\n")
