"""JUnit XML, the format CI systems ingest.

One ``testsuite`` per broker, one ``testcase`` per cell (classname
``scenario.fault``, name the peer pair). Verdicts map as pytest maps them:
``fail`` is a failure, ``error`` (the harness's own fault) an error; ``xfail``, ``unsupported`` and ``skipped`` are
skipped with the verdict as the type; ``xpass`` passes, or fails in strict
mode. The tree is built with ElementTree, so escaping is not ours to get
wrong; characters XML 1.0 cannot carry at all (control bytes from a peer's
output) are dropped first.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .report import build_tables, format_figures, xml_text
from .results import (
    ERROR,
    FAIL,
    NO_FAULT,
    PASS,
    SKIPPED,
    UNSUPPORTED,
    XFAIL,
    XPASS,
    CellResult,
    RunResult,
)


def _testcase(parent: ET.Element, c: CellResult, strict: bool) -> str:
    """Add one testcase; returns the JUnit outcome (passed, failure, error, skipped)."""
    case = ET.SubElement(
        parent,
        "testcase",
        classname=xml_text(f"{c.scenario}.{c.fault or NO_FAULT}"),
        name=xml_text(c.pair),
        time=f"{c.duration_s:.3f}",
    )
    reason = xml_text(c.reason or c.verdict)
    outcome = "passed"
    if c.verdict == FAIL or (c.verdict == XPASS and strict):
        failure = ET.SubElement(case, "failure", message=reason, type=xml_text(c.rule or c.verdict))
        detail = [f"{c.id}: {c.verdict}: {c.reason}"]
        if c.rule:
            detail.append(f"rule: {c.rule}")
        failure.text = xml_text("\n".join(detail))
        outcome = "failure"
    elif c.verdict == ERROR:
        error = ET.SubElement(case, "error", message=reason, type="harness-error")
        detail = [f"{c.id}: {c.verdict}: {c.reason}"]
        if c.artifacts:
            detail.append(f"traceback: {c.artifacts}/error.txt")
        error.text = xml_text("\n".join(detail))
        outcome = "error"
    elif c.verdict in (XFAIL, UNSUPPORTED, SKIPPED):
        ET.SubElement(case, "skipped", type=c.verdict, message=xml_text(f"{c.verdict}: {reason}"))
        outcome = "skipped"
    lines = [f"id: {c.id}", f"verdict: {c.verdict}"]
    if c.verdict not in (PASS, FAIL, ERROR) and c.reason:
        lines.append(f"reason: {c.reason}")
    if c.known:
        lines.append(f"known failure: {c.known}")
    if c.figures:
        lines.append(f"figures: {format_figures(c.figures)}")
    if c.artifacts:
        lines.append(f"artifacts: {c.artifacts}")
    if c.rerun:
        lines.append(f"rerun: {c.rerun}")
    ET.SubElement(case, "system-out").text = xml_text("\n".join(lines))
    return outcome


def render_junit(run: RunResult, *, strict: bool = False) -> str:
    """The JUnit document as a string (UTF-8 declaration included)."""
    root = ET.Element("testsuites", name="amqp-interop")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for t in build_tables(run):
        suite = ET.SubElement(root, "testsuite", name=xml_text(t.broker or "no-broker"))
        props = ET.SubElement(suite, "properties")
        for key, value in (("product", t.product), ("version", t.version)):
            ET.SubElement(props, "property", name=key, value=xml_text(value))
        n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        time = 0.0
        # table order (rows, then columns), so the file reads like the matrix
        for row in t.rows:
            for col in t.columns:
                c = t.cell(row, col)
                if c is None:
                    continue
                outcome = _testcase(suite, c, strict)
                n["tests"] += 1
                if outcome == "failure":
                    n["failures"] += 1
                elif outcome == "error":
                    n["errors"] += 1
                elif outcome == "skipped":
                    n["skipped"] += 1
                time += c.duration_s
        suite.set("tests", str(n["tests"]))
        suite.set("failures", str(n["failures"]))
        suite.set("errors", str(n["errors"]))
        suite.set("skipped", str(n["skipped"]))
        suite.set("time", f"{time:.3f}")
        if run.started_at:
            suite.set("timestamp", xml_text(run.started_at))
        for k in totals:
            totals[k] += n[k]
        total_time += time
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("skipped", str(totals["skipped"]))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
