"""The ``error`` verdict (the harness's own fault) in results.json, every report and the exit status.

Why: an error must never look like a verdict on an implementation, and it
must not look like a pass either: reports mark it ERROR, JUnit files it as
``<error>`` (not ``<failure>``), and the run exits 1, as for a failure.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.matrix.report import render
from harness.matrix.results import ERROR, RunResult, exit_code, unexpected_failures

from .sample import cell, run

REASON = "error in stage broker-setup: IndexError: pop from an empty deque"


def _run() -> RunResult:
    return run([cell(verdict="pass"), cell(peers=("js", "python"), verdict=ERROR, reason=REASON)])


def test_error_round_trips_through_results_json(tmp_path):
    path = tmp_path / "results.json"
    _run().save(path)
    again = RunResult.load(path)
    assert [c.verdict for c in again.cells] == ["pass", "error"]


def test_error_fails_the_run():
    r = _run()
    assert exit_code(r) == 1
    assert [c.verdict for c in unexpected_failures(r)] == [ERROR]


def test_text_and_markdown_mark_it_and_list_it_first_with_its_stage():
    text = render(_run(), "text")
    assert "ERROR" in text and REASON in text and "1 error" in text
    md = render(_run(), "markdown")
    assert "ERROR" in md and "broker-setup" in md


def test_html_marks_it():
    html = render(_run(), "html")
    assert 'class="v-error"' in html and "broker-setup" in html


def test_junit_files_it_as_an_error_not_a_failure():
    root = ET.fromstring(render(_run(), "junit"))
    assert root.get("errors") == "1" and root.get("failures") == "0"
    [err] = list(root.iter("error"))
    assert "broker-setup" in err.get("message", "")
    assert "error.txt" in (err.text or "")
