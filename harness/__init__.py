"""amqp-interop: an AMQP 1.0 interoperability harness.

This is the public API for a downstream conftest or script: run a selection
of cells (``Session``, ``Selection``), add scenarios and peers
(``Scenario``, ``Role``, ``FaultPlan``, ``Implementation``), read and render
results (``load_results``, ``render_report``). Everything else in the
package is internal and may change between releases.

Names are resolved on first use (PEP 562), so importing one submodule does
not import the whole harness, and the package has no import cycles through
this file.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    # running cells: the session both `interop run` and the pytest plugin use
    "Selection": ("harness.selection", "Selection"),
    "SelectionError": ("harness.selection", "SelectionError"),
    "Session": ("harness.session", "Session"),
    "RunOptions": ("harness.cell_state", "RunOptions"),
    "run_cell": ("harness.pipeline", "run_cell"),
    "STAGES": ("harness.pipeline", "STAGES"),
    # scenarios: what a cell runs and what its trace must show
    "Scenario": ("harness.scenario", "Scenario"),
    "Role": ("harness.scenario", "Role"),
    "CellRun": ("harness.scenario", "CellRun"),
    "Failure": ("harness.scenario", "Failure"),
    "FaultPlan": ("harness.fault_plans", "FaultPlan"),
    "NO_FAULTS": ("harness.fault_plans", "NO_FAULTS"),
    "expect": ("harness.expect", "expect"),
    "outcome": ("harness.expect", "outcome"),
    "Pattern": ("harness.trace.patterns", "Pattern"),
    "all_scenarios": ("harness.scenarios", "all_scenarios"),
    # peers: the implementations a session pairs
    "Implementation": ("harness.peers", "Implementation"),
    "PeerRegistry": ("harness.peers", "PeerRegistry"),
    "parse_peer_option": ("harness.peers", "parse_peer_option"),
    # results: what a run leaves, and its reports
    "CellResult": ("harness.matrix.results", "CellResult"),
    "RunResult": ("harness.matrix.results", "RunResult"),
    "VERDICTS": ("harness.matrix.results", "VERDICTS"),
    "load_results": ("harness.matrix.results", "load"),
    "exit_code": ("harness.matrix.results", "exit_code"),
    "render_report": ("harness.matrix.report", "render"),
    "compare_runs": ("harness.matrix.compare", "compare"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'harness' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
