"""The compatibility matrix: results, known failures, reports, comparisons, merges.

Sans-IO except for reading and writing files: the runner produces a
:class:`RunResult`; everything here turns it into verdicts, reports, change
lists and exit codes.
"""

# ``compare``, ``merge``, ``known``, ``report`` and ``results`` stay the submodules
# (``from harness.matrix import compare; compare.compare(...)``); the functions of
# the same name are exported as ``compare_runs`` and ``merge_runs``.
from . import compare, known, merge, report, results
from .compare import Change, compare_exit_code, render_changes
from .compare import compare as compare_runs
from .known import KnownFailure, KnownFailures, apply, load_registry, version_matches
from .merge import merge as merge_runs
from .merge import merge_files
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
    "KnownFailures",
    "RunResult",
    "apply",
    "cell_id",
    "compare",
    "compare_exit_code",
    "compare_runs",
    "counts",
    "exit_code",
    "load",
    "load_registry",
    "known",
    "merge",
    "merge_files",
    "merge_runs",
    "pair_name",
    "render",
    "render_changes",
    "report",
    "results",
    "save",
    "summary_line",
    "unexpected_failures",
    "version_matches",
]
