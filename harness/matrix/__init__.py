"""The compatibility matrix: results, known failures, reports, comparisons, merges.

Sans-IO except for reading and writing files: the runner produces a
:class:`RunResult`; everything here turns it into verdicts, reports, change
lists and exit codes.
"""

from .compare import Change, compare, compare_exit_code, render_changes
from .known import KnownFailure, Registry, apply, load_registry, version_matches
from .merge import merge, merge_files
from .report import FORMATS, render, summary_line
from .results import (
    RESULTS_VERSION,
    VERDICTS,
    CellResult,
    RunResult,
    cell_id,
    counts,
    exit_code,
    load,
    pair_name,
    save,
    unexpected_failures,
)

__all__ = [
    "FORMATS",
    "RESULTS_VERSION",
    "VERDICTS",
    "CellResult",
    "Change",
    "KnownFailure",
    "Registry",
    "RunResult",
    "apply",
    "cell_id",
    "compare",
    "compare_exit_code",
    "counts",
    "exit_code",
    "load",
    "load_registry",
    "merge",
    "merge_files",
    "pair_name",
    "render",
    "render_changes",
    "save",
    "summary_line",
    "unexpected_failures",
    "version_matches",
]
