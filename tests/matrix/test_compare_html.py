"""``interop compare --format html``: a planted regression exits 1 and the page shows it first.

Why: the comparison is what a maintainer reads after an upgrade; the page
must put the cells that gate CI at the top and stay a self-contained,
well-formed document like the other reports.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.cli import main
from harness.matrix.compare import compare
from harness.matrix.compare_html import render_compare_html

from .sample import cell, run


def _runs():
    old = run(
        [cell(verdict="pass"), cell(peers=("js", "python"), verdict="fail", reason="was broken")]
    )
    new = run(
        [
            cell(verdict="fail", reason="[credit] broke 2.6.7 <flow>"),
            cell(peers=("js", "python"), verdict="pass"),
        ]
    )
    return old, new


def test_regression_first_escaped_and_well_formed():
    old, new = _runs()
    html = render_compare_html(compare(old, new), "before", "after")
    ET.fromstring(html.split("\n", 1)[1])  # well-formed after the doctype line
    assert html.index("Regressions (1)") < html.index("Fixed (1)")
    assert "[credit] broke 2.6.7 &lt;flow&gt;" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_cli_compare_html_exits_1_on_a_regression(tmp_path):
    old, new = _runs()
    old.save(tmp_path / "old.json")
    new.save(tmp_path / "new.json")
    out = tmp_path / "compare.html"
    code = main(
        [
            "compare",
            str(tmp_path / "old.json"),
            str(tmp_path / "new.json"),
            "--format",
            "html",
            "-o",
            str(out),
        ]
    )
    assert code == 1
    assert "Regressions (1)" in out.read_text()
    assert (
        main(
            [
                "compare",
                str(tmp_path / "new.json"),
                str(tmp_path / "new.json"),
                "--format",
                "html",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert "No cell changed its verdict." in out.read_text()
