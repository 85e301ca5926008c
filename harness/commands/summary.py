"""The CI job summary: when ``GITHUB_STEP_SUMMARY`` names a file, the Markdown matrix is appended.

GitHub Actions shows that file on the run's page. Both front doors use it:
``interop run`` after it saved results.json, the pytest plugin at the end of
the session (on the controller when pytest-xdist runs workers). Appending,
never overwriting: other steps of the same job may have written to it. A
summary that cannot be written is one line on stderr; it never changes a
verdict or an exit status.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = [
    "ENV",
    "RESULT_PROPERTY",
    "PytestStepSummary",
    "append_step_summary",
    "summary_entry",
    "summary_path",
]

#: the variable GitHub Actions sets to the job summary's file
ENV = "GITHUB_STEP_SUMMARY"


def summary_path() -> str | None:
    """The summary file to append to, or None outside such a CI step."""
    return os.environ.get(ENV) or None


def append_step_summary(run: Any) -> bool:
    """Append ``run``'s Markdown report to the summary file; True when written."""
    path = summary_path()
    if not path:
        return False
    from harness.matrix import report

    text = report.render(run, "markdown").rstrip("\n") + "\n\n"
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        print(f"interop: {ENV} not written ({path}: {e.strerror or e})", file=sys.stderr)
        return False
    return True


#: the test report property that carries a cell's result to the summary (pytest-xdist
#: ships test reports, with their user properties, from the workers to the controller)
RESULT_PROPERTY = "interop_result"


def summary_entry(session: Any, result: Any) -> dict[str, Any]:
    """What a test report carries to the summary: the cell's result and the brokers' identities."""
    return {"cell": result.to_json(), "brokers": list(session.brokers_seen.values())}


class PytestStepSummary:
    """pytest: collect every cell's result from the test reports, append the matrix at the end.

    Registered by the plugin on the controller only (or the single process);
    the ``run_cell`` fixture puts each result in its test's user properties.
    """

    def __init__(self, config: Any) -> None:
        self.config = config
        self.cells: list[Any] = []
        self.brokers: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when != "call":  # every phase's report carries the properties: count one
            return
        from harness.matrix.results import CellResult

        for key, value in getattr(report, "user_properties", ()):
            if key == RESULT_PROPERTY:
                self.cells.append(CellResult.from_json(value["cell"]))
                for b in value["brokers"]:
                    self.brokers.setdefault(b.get("name", ""), b)

    def pytest_sessionfinish(self, session: Any) -> None:
        if not self.cells:
            return
        import shlex

        from harness.pytest_plugin import interop_session

        args = shlex.join(str(a) for a in self.config.invocation_params.args)
        run = interop_session(self.config).result(self.cells, command=f"pytest {args}".strip())
        run.brokers = list(self.brokers.values()) or run.brokers  # workers met the brokers
        append_step_summary(run)
