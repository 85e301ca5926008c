"""Join the results of shards (``interop run --shard K/N``) into one run.

Shards split the cells of one matrix across CI jobs; merging gives back the
run a single job would have produced. A cell id seen twice must carry the
same result (a retried shard), otherwise the shards disagree and merging
would hide one of the outcomes: that is an error. Brokers and peers are
unioned by name, and one name with two identities is an error too, since
the cells would then be compared against different builds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from .results import RESULTS_VERSION, CellResult, RunResult
from .scope import merge_records


def _earliest(stamps: Iterable[str]) -> str:
    """The earliest ISO timestamp; unparsable ones lose to parsable ones, then sort as text."""

    def key(s: str) -> tuple[int, float, str]:
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            return (1, 0.0, s)
        # naive stamps are taken as the local time, as the runner wrote them
        return (0, dt.timestamp(), s)

    stamps = [s for s in stamps if s]
    return min(stamps, key=key) if stamps else ""


def _union(
    kind: str, groups: Iterable[tuple[str, list[dict[str, Any]]]], keys: Sequence[str]
) -> list[dict[str, Any]]:
    """Entries by name, first seen first; the same name with different ``keys`` is an error."""
    out: dict[str, dict[str, Any]] = {}
    where: dict[str, str] = {}
    for source, entries in groups:
        for e in entries:
            name = str(e.get("name"))
            if name not in out:
                out[name] = dict(e)
                where[name] = source
                continue
            for k in keys:
                if (out[name].get(k) or "") != (e.get(k) or ""):
                    raise ValueError(
                        f"{source}: {kind} '{name}' has {k} {e.get(k)!r},"
                        f" but {where[name]} has {out[name].get(k)!r}"
                    )
    return list(out.values())


def merge(runs: Sequence[RunResult], sources: Sequence[str] | None = None) -> RunResult:
    """One run from several shards. ``sources`` names the runs in errors (file names).

    Cells keep the order of the runs given; durations are summed (the CPU
    time of the matrix, not the wall time of parallel jobs); ``started_at``
    is the earliest; ``command`` is the first run's; the selections are
    joined (``scope.merge_records``: the shards of one selection make it whole).
    """
    if not runs:
        raise ValueError("merge: no results to merge")
    names = list(sources) if sources is not None else [f"run {i + 1}" for i in range(len(runs))]
    if len(names) != len(runs):
        raise ValueError("merge: one source name per run expected")
    for run, name in zip(runs, names, strict=True):
        if run.version != RESULTS_VERSION:
            raise ValueError(f"{name}: results version {run.version}, expected {RESULTS_VERSION}")
    cells: dict[str, CellResult] = {}
    cell_source: dict[str, str] = {}
    for run, name in zip(runs, names, strict=True):
        for c in run.cells:
            seen = cells.get(c.id)
            if seen is None:
                cells[c.id] = c
                cell_source[c.id] = name
            elif seen.to_json() != c.to_json():
                raise ValueError(
                    f"{name}: cell {c.id} differs from the one in {cell_source[c.id]}"
                    f" ({seen.verdict} vs {c.verdict})"
                )
    brokers = _union(
        "broker",
        ((n, r.brokers) for r, n in zip(runs, names, strict=True)),
        ("product", "version"),
    )
    peers = _union("peer", ((n, r.peers) for r, n in zip(runs, names, strict=True)), ("version",))
    return RunResult(
        version=RESULTS_VERSION,
        brokers=brokers,
        peers=peers,
        cells=list(cells.values()),
        started_at=_earliest(r.started_at for r in runs),
        duration_s=sum(r.duration_s for r in runs),
        command=runs[0].command,
        selection=merge_records([r.selection for r in runs])[0],
    )


def rebase_artifacts(
    run: RunResult, results_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]
) -> RunResult:
    """``run`` with each cell's folder relative to ``out_dir`` instead of ``results_dir``.

    A cell's ``artifacts`` is relative to its results file; shards come from
    different folders (one per CI job's download), so the merged file, written
    elsewhere, must point into each shard's folder for its report's links.
    """
    cells = []
    for c in run.cells:
        if c.artifacts:
            where = os.path.join(os.path.abspath(results_dir), c.artifacts)
            c = replace(c, artifacts=os.path.relpath(where, os.path.abspath(out_dir)))
        cells.append(c)
    return replace(run, cells=cells)


def merge_files(paths: Sequence[str | os.PathLike[str]]) -> RunResult:
    """Load and merge results files; every problem is a one-line ValueError naming the file."""
    if not paths:
        raise ValueError("merge: no results files given")
    runs = [RunResult.load(p) for p in paths]
    return merge(runs, [os.fspath(p) for p in paths])
