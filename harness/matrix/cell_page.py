"""``<cell folder>/index.html``: one cell, for the person who clicked on it in the matrix.

The page answers, in reading order: what was the verdict and why; which
rule broke, what it rests on (a section of AMQP 1.0, the tutorial, the peer
contract) and what was expected against what came; where that is on the
handshake, drawn as a sequence diagram with the failing event highlighted
(a link jumps to it); the cell's figures; how to rerun it alone; and the raw
files next to the page. An ``error`` cell shows the stage that failed and
the traceback from ``error.txt``. Whatever is missing from the folder is
said so on the page, never a broken link. Built only from ``results.json``
and the cell's folder, so it can be rebuilt at any time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

from harness.trace.citations import citation
from harness.trace.locate import FAILED, Spot, by_index, locate
from harness.trace.model import TraceEvent
from harness.trace.render import render_event

from .html_base import chip, esc, facts_table, href, page
from .report import row_label
from .results import ERROR, PASS, CellResult, RunResult

#: the files of a cell folder a reader may want, and what each holds
ARTIFACTS: dict[str, str] = {
    "trace.jsonl": "the trace: every frame and peer event (JSON Lines)",
    "trace.txt": "the trace, one readable line per event",
    "verdict.json": "the verdict with every failure's full explanation",
    "commands.txt": "the exact peer command lines",
    "error.txt": "the harness's traceback",
    "broker.log.txt": "the broker's log, last lines",
}
_STAGE = re.compile(r"error in stage ([\w.-]+)")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _failures(folder: Path) -> list[dict[str, Any]]:
    raw = _read_json(folder / "verdict.json").get("failures") or []
    return [f for f in raw if isinstance(f, dict)]


def _trace(folder: Path) -> tuple[list[TraceEvent] | None, str]:
    """The trace, or None and why not."""
    from harness.trace.jsonl import read_trace

    path = folder / "trace.jsonl"
    if not path.exists():
        return None, "There is no trace.jsonl in this folder: the cell did not get far enough."
    try:
        return read_trace(path), ""
    except ValueError as e:
        return None, f"The trace could not be read: {e}"


def _heading(run: RunResult, c: CellResult, report_href: str) -> list[str]:
    out = [
        f'<nav><a href="{href(report_href)}">← the run\'s matrix</a></nav>',
        f"<h1>{esc(c.id)}</h1>",
        f'<p class="summary">{chip(c.verdict)} {esc(c.reason or "")}</p>',
    ]
    broker = run.broker(c.broker)
    ident = " ".join(str(broker.get(k) or "") for k in ("product", "version")).strip()
    versions = run.peer_versions()
    roles = "<br/>".join(
        f"{esc(role)}: <b>{esc(peer)}</b> {esc(versions.get(peer, ''))}"
        for role, peer in c.roles.items()
    )
    out += facts_table(
        [
            ("scenario", esc(row_label(c.scenario, c.fault))),
            ("broker", esc(f"{c.broker}: {ident or 'identity unknown'}" if c.broker else "none")),
            ("peers", roles),
            ("duration", esc(f"{c.duration_s:.2f} s")),
            ("known failure", esc(c.known or "")),
            ("rerun", f"<code>{esc(c.rerun)}</code>" if c.rerun else ""),
        ]
    )
    return out


def _figures(c: CellResult) -> list[str]:
    if not c.figures:
        return []
    out = ["<h2>Figures</h2>", '<table class="facts">']
    for k, v in c.figures.items():
        shown = f"{v:.4g}" if isinstance(v, float) else str(v)
        out.append(f"<tr><th>{esc(k)}</th><td>{esc(shown)}</td></tr>")
    out.append("</table>")
    return out


def _failure_blocks(
    c: CellResult, failures: list[dict[str, Any]], spots: list[Spot], events: list[TraceEvent]
) -> list[str]:
    """Each failure: its rule, what it rests on, the message, a link to its spot, the detail."""
    if not failures:
        return []
    title = "Failures" if c.verdict != PASS else "Findings"
    if c.known:
        title += f" (known failure {c.known})"
    out = [f"<h2>{esc(title)} ({len(failures)})</h2>"]
    for n, f in enumerate(failures):
        rule, detail = str(f.get("rule") or ""), str(f.get("detail") or "")
        out.append(f'<div class="failure" id="failure-{n + 1}">')
        out.append(f"<p>{chip('fail', rule or 'failure')} {esc(f.get('message') or '')}</p>")
        out.append(f'<p class="cite">Based on: {esc(citation(rule, detail, c.scenario))}</p>')
        where = next((s.index for s in spots if s.failure == n and s.kind == FAILED), None)
        if where is not None:
            line = render_event(events[where]).strip()
            out.append(f'<p>On the diagram: <a href="#ev{where}"><code>{esc(line)}</code></a></p>')
        if detail:
            out.append(f"<pre>{esc(detail)}</pre>")
        out.append("</div>")
    return out


def _error_block(c: CellResult, folder: Path) -> list[str]:
    if c.verdict != ERROR:
        return []
    m = _STAGE.search(c.reason or "")
    stage = m.group(1) if m else "unknown"
    out = [
        "<h2>Harness error</h2>",
        '<div class="failure error">',
        f"<p>The harness itself failed in stage <b>{esc(stage)}</b>: no verdict on any "
        "implementation.</p>",
    ]
    path = folder / "error.txt"
    if path.exists():
        out.append(f"<pre>{esc(path.read_text(encoding='utf-8', errors='replace'))}</pre>")
    else:
        out.append('<p class="missing">error.txt is missing from this folder.</p>')
    out.append("</div>")
    return out


def _diagram(c: CellResult, events: list[TraceEvent] | None, why: str, spots: list[Spot]):
    from harness.trace.svg import render_svg

    out = ["<h2>Sequence diagram</h2>"]
    if events is None or not events:
        return out + [f'<p class="missing">{esc(why or "The trace is empty.")}</p>']
    marks = {}
    for i, s in by_index(spots).items():
        hits = sorted({t.failure + 1 for t in spots if t.index == i and t.kind == FAILED})
        label = "✗ failure " + ", ".join(map(str, hits)) if hits else "✓ matched step"
        marks[i] = (s.kind, label)
    failed = sum(1 for s in spots if s.kind == FAILED)
    note = (
        f"{len(events):,} events; long routine stretches folded into grey rows (hover for counts)"
        + ("; where a failure is: red band; steps matched before it: blue band" if failed else "")
        + ". Hover an arrow for the whole frame."
    )
    svg = render_svg(events, fold=True, highlight=marks, inline=True, title=c.id)
    return out + [f"<p><small>{esc(note)}</small></p>", f'<div class="diagram">{svg}</div>']


def _progress(events: list[TraceEvent] | None) -> list[str]:
    from harness.trace.progress import progress_svg

    svg = progress_svg(events) if events else None
    if svg is None:
        return []
    return [
        "<h2>Messages over time</h2>",
        "<p><small>Sent (resends included), confirmed by the broker, received (distinct ids);"
        " red dashes: cuts, disconnects, broker restarts.</small></p>",
        svg,
    ]


def _artifacts(c: CellResult, folder: Path) -> list[str]:
    out = ["<h2>Raw artifacts</h2>", "<ul>"]
    present = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != "index.html")
    for name in present:
        size = (folder / name).stat().st_size
        what = ARTIFACTS.get(name) or _role_file(name)
        out.append(
            f'<li><a href="{href(name)}"><code>{esc(name)}</code></a> '
            f"<small>({size:,} bytes) {esc(what)}</small></li>"
        )
    expected = ["trace.jsonl", "verdict.json"] + (["error.txt"] if c.verdict == ERROR else [])
    for name in expected:
        if name not in present:
            out.append(f'<li class="missing"><code>{esc(name)}</code>: missing</li>')
    if "trace.txt" not in present and "trace.jsonl" in present and c.verdict == PASS:
        out.append(
            "<li><code>trace.txt</code> <small>is written only for a cell that did not pass; "
            f"<code>interop trace {esc(c.artifacts or '.')}</code> prints it</small></li>"
        )
    out.append("</ul>")
    return out


def _role_file(name: str) -> str:
    if name.endswith(".stdout.jsonl"):
        return f"what peer {name.split('.')[0]} printed (the contract's JSON Lines)"
    if name.endswith(".stderr.txt"):
        return f"peer {name.split('.')[0]}'s diagnostics"
    return ""


def report_link(artifacts: str, report: str = "report.html") -> str:
    """The report as seen from a cell folder ``artifacts`` (relative to the results folder)."""
    depth = len(PurePosixPath(artifacts).parts)
    return "../" * depth + report


def render_cell_page(
    run: RunResult,
    c: CellResult,
    folder: Path,
    *,
    report_href: str | None = None,
    events: list[TraceEvent] | None = None,
) -> str:
    """The page of cell ``c`` whose artifacts are in ``folder``.

    ``events`` are the trace as ``trace.jsonl`` stores it, when the caller
    still holds them (the cell just ended); otherwise the file is read.
    """
    report_href = report_href or report_link(c.artifacts)
    failures = _failures(folder)
    events, why = (events, "") if events is not None else _trace(folder)
    spots = locate(events, failures) if events and failures else []
    body = _heading(run, c, report_href)
    body += _error_block(c, folder)
    body += _failure_blocks(c, failures, spots, events or [])
    body += _figures(c)
    body += _progress(events)
    body += _diagram(c, events, why, spots)
    body += _artifacts(c, folder)
    return page(f"{c.id}: {c.verdict}", body)
