"""A run's pages on disk: ``report.html`` and an ``index.html`` in every cell folder.

``interop run`` calls :func:`write_site` once ``results.json`` is written;
``interop report RESULTS --format html`` calls it again, so the pages can be
rebuilt from ``results.json`` and the cell folders alone (after a merge, or
by a newer harness). Links are relative, so the folder can be moved or
archived whole.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.trace.model import TraceEvent

from .cell_page import render_cell_page
from .report_html import render_html
from .results import CellResult, RunResult

__all__ = ["LivePages", "Site", "write_cell_page", "write_cell_pages", "write_site"]


@dataclass
class Site:
    """What was written: the report's path, the cell pages, cells whose folder is missing."""

    report: Path | None
    pages: list[Path]
    missing: list[str]


def _rel(target: Path, start: Path) -> str:
    """``target`` relative to folder ``start``, with forward slashes, ending in ``/`` for folders."""
    rel = os.path.relpath(target.resolve(), start.resolve()).replace(os.sep, "/")
    return "" if rel == "." else rel + "/"


def write_cell_pages(
    run: RunResult,
    results_dir: Path,
    report: Path | None = None,
    written: Collection[str] = (),
) -> tuple[list[Path], list[str]]:
    """``index.html`` in every existing cell folder; the ids of cells whose folder is missing.

    Cells named in ``written`` already have their page (``LivePages``) and
    are not rendered again.
    """
    pages, missing = [], []
    for c in run.cells:
        if not c.artifacts:
            continue
        folder = results_dir / c.artifacts
        if not folder.is_dir():
            missing.append(c.id)
            continue
        if c.id not in written:
            write_cell_page(run, c, results_dir, report)
        pages.append(folder / "index.html")
    return pages, missing


def write_cell_page(
    run: RunResult,
    c: CellResult,
    results_dir: Path,
    report: Path | None = None,
    events: list[TraceEvent] | None = None,
) -> Path:
    """The ``index.html`` of one cell (``events``: its stored trace, if still in memory)."""
    folder = results_dir / c.artifacts
    back = None
    if report is not None:
        back = _rel(report.parent, folder) + report.name
    path = folder / "index.html"
    path.write_text(
        render_cell_page(run, c, folder, report_href=back, events=events), encoding="utf-8"
    )
    return path


class LivePages:
    """Each cell's page written as the cell ends, from the events it still holds.

    Why: writing the pages after the run read every ``trace.jsonl`` back, which
    was 2.1 s of the 2.8 s a 93-cell run spent on its pages after the last cell
    (JSON decoding, mostly), with nothing else left to overlap it. The page is
    the one ``write_cell_pages`` would write: the broker and peers it names
    are the cell's own, the trace is the one the artifact stage stored.
    A page that fails here is left to ``write_site``, which reads the files.
    """

    def __init__(
        self,
        results_dir: Path,
        peer_versions: Callable[[list[str]], list[dict[str, Any]]],
        report: Path | None = None,
    ) -> None:
        self.results_dir = results_dir
        self.report = report if report is not None else results_dir / "report.html"
        self.peer_versions = peer_versions
        self.written: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, st: Any) -> None:
        """``RunOptions.on_done``: ``st`` is the ended cell's ``CellState``."""
        res = st.result
        if st.stored_events is None or not res.artifacts:
            return  # no trace.jsonl was written: write_site says so from the folder
        try:
            saved = CellResult.from_json(res.to_json())  # as results.json will hold it
            run = RunResult(
                brokers=[st.broker.describe()] if st.broker is not None else [],
                peers=self.peer_versions(sorted(set(res.roles.values()))),
                cells=[saved],
            )
            stored = [  # times as trace.jsonl rounds them, so the drawings match to the pixel
                TraceEvent(round(e.t, 6), e.kind, e.name, e.conn, e.src, e.dst, e.channel, e.fields)
                for e in st.stored_events
            ]
            write_cell_page(run, saved, self.results_dir, self.report, stored)
        except Exception:  # noqa: BLE001 - write_site writes it from the files instead
            return
        with self._lock:
            self.written.add(res.id)


def render_report(run: RunResult, results_dir: Path, at: Path) -> str:
    """``report.html`` for a page written into folder ``at`` (links lead to ``results_dir``)."""
    return render_html(run, base=_rel(results_dir, at), folders=results_dir)


def write_site(
    run: RunResult, results_dir: Path, report: Path | None = None, written: Collection[str] = ()
) -> Site:
    """Write the cell pages and the report (``results_dir/report.html`` unless ``report``).

    ``written``: cells whose page ``LivePages`` wrote as they ended.
    """
    report = report if report is not None else results_dir / "report.html"
    pages, missing = write_cell_pages(run, results_dir, report, written)
    report.write_text(render_report(run, results_dir, report.parent), encoding="utf-8")
    return Site(report, pages, missing)
