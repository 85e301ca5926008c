"""A run's pages on disk: ``report.html`` and an ``index.html`` in every cell folder.

``interop run`` calls :func:`write_site` once ``results.json`` is written;
``interop report RESULTS --format html`` calls it again, so the pages can be
rebuilt from ``results.json`` and the cell folders alone (after a merge, or
by a newer harness). Links are relative, so the folder can be moved or
archived whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .cell_page import render_cell_page
from .report_html import render_html
from .results import RunResult

__all__ = ["Site", "write_cell_pages", "write_site"]


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
    run: RunResult, results_dir: Path, report: Path | None = None
) -> tuple[list[Path], list[str]]:
    """``index.html`` in every existing cell folder; the ids of cells whose folder is missing."""
    pages, missing = [], []
    for c in run.cells:
        if not c.artifacts:
            continue
        folder = results_dir / c.artifacts
        if not folder.is_dir():
            missing.append(c.id)
            continue
        back = None
        if report is not None:
            back = _rel(report.parent, folder) + report.name
        path = folder / "index.html"
        path.write_text(render_cell_page(run, c, folder, report_href=back), encoding="utf-8")
        pages.append(path)
    return pages, missing


def render_report(run: RunResult, results_dir: Path, at: Path) -> str:
    """``report.html`` for a page written into folder ``at`` (links lead to ``results_dir``)."""
    return render_html(run, base=_rel(results_dir, at), folders=results_dir)


def write_site(run: RunResult, results_dir: Path, report: Path | None = None) -> Site:
    """Write the cell pages and the report (``results_dir/report.html`` unless ``report``)."""
    report = report if report is not None else results_dir / "report.html"
    pages, missing = write_cell_pages(run, results_dir, report)
    report.write_text(render_report(run, results_dir, report.parent), encoding="utf-8")
    return Site(report, pages, missing)
