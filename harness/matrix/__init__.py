"""The compatibility matrix: results, known failures, reports, comparisons, merges.

Sans-IO except for reading and writing files: the runner produces a
:class:`RunResult`, everything here turns it into verdicts, reports and
exit codes.
"""

from .known import KnownFailure, Registry, apply, load_registry, version_matches
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
    "RESULTS_VERSION",
    "VERDICTS",
    "CellResult",
    "KnownFailure",
    "Registry",
    "RunResult",
    "apply",
    "cell_id",
    "counts",
    "exit_code",
    "load",
    "load_registry",
    "pair_name",
    "save",
    "unexpected_failures",
    "version_matches",
]
