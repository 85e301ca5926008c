import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.matrix.report import build_tables, column_of, render, summary_line
from harness.matrix.report_text import abbreviations
from tests.matrix.sample import cell, full_run, run

FAIL_ID = "at-least-once-cut3-python->js-embedded"


def test_summary_line():
    cells = [cell(verdict="pass")] * 40 + [cell(verdict="xfail"), cell(verdict="unsupported")]
    assert summary_line(cells) == "42 cells: 40 pass, 1 xfail, 1 unsupported, 0 fail"
    assert summary_line([]) == "0 cells: 0 pass, 0 fail"
    assert summary_line([cell(verdict="xpass")]) == "1 cell: 0 pass, 1 xpass, 0 fail"


def test_layout_one_table_per_broker_rows_and_columns():
    tables = build_tables(full_run())
    assert [t.title for t in tables] == [
        "embedded: amqp-interop embedded broker 0.1.0",
        "rabbitmq: RabbitMQ 3.10.8",
    ]
    t = tables[1]
    assert t.rows == [
        ("hello-world", "none"),
        ("at-least-once", "none"),
        ("at-least-once", "cut3"),
        ("request-response", "none"),
    ]
    assert t.columns[:3] == ["python->python", "python->cpp", "python->js"]
    assert len(t.columns) == 9
    # one-role scenarios sit on the diagonal
    assert t.cell(("hello-world", "none"), "js->js").id == "hello-world-js-rabbitmq"
    assert t.cell(("hello-world", "none"), "js->cpp") is None


def test_column_of():
    assert column_of(cell("hello-world", ("cpp",))) == "cpp->cpp"
    assert column_of(cell("request-response", ("js", "python"))) == "js->python"


def test_unlisted_and_brokerless_cells_get_tables():
    r = run([cell("direct", ("python", "js"), broker=""), cell(broker="url:amqp://x")])
    titles = [t.title for t in build_tables(r)]
    assert titles == ["no broker (peer to peer)", "url:amqp://x: identity unknown"]
    assert "no broker (peer to peer)" in render(r, "text")


def test_text_report_content():
    text = render(full_run(), "text")
    lines = text.splitlines()
    assert "== rabbitmq: RabbitMQ 3.10.8 ==" in lines
    row = next(line for line in lines if line.startswith("at-least-once / cut3") and "FAIL" in line)
    assert row.split()[3:] == [
        "pass",
        "pass",
        "FAIL",
        "pass",
        "pass",
        "pass",
        "pass",
        "pass",
        "pass",
    ]
    hello = next(line for line in lines if line.startswith("hello-world"))
    assert hello.split()[1:] == ["pass", "-", "-", "-", "pass", "-", "-", "-", "pass"]
    assert any("unsup" in line and line.startswith("request-response") for line in lines)
    assert lines[-1] == "60 cells: 49 pass, 1 xfail, 9 unsupported, 1 fail"
    # the failure comes first in the list, with its reason, rule and rerun hint
    i = lines.index("Not passing (11):")
    assert lines[i + 1].split()[:2] == ["FAIL", FAIL_ID]
    detail = "\n".join(lines[i + 1 : i + 6])
    assert "[rule at-least-once.nothing-lost]" in detail
    assert "rerun: interop run --broker embedded --scenario at-least-once" in detail
    assert "duplicates=3" in detail


@pytest.mark.parametrize("fault", ["cut3", "cut-before-disposition-then-restart-broker"])
def test_text_fits_100_columns_with_nine_pairs(fault):
    r = full_run()
    r.cells.append(cell("at-least-once", ("cpp", "cpp"), "embedded", fault=fault))
    text = render(r, "text")
    table_lines = [line for line in text.splitlines() if not line.startswith(" ")]
    too_wide = [line for line in table_lines if len(line) > 100]
    assert not too_wide, too_wide
    assert "py>js" in text and "cpp>cpp" in text
    headers = [line for line in text.splitlines() if line.startswith("scenario / fault")]
    assert len(headers) == 2 and headers[0] == headers[1]  # the tables line up


def test_text_uses_full_pair_names_when_they_fit():
    r = run([cell("at-least-once", ("python", "js")), cell("at-least-once", ("js", "python"))])
    text = render(r, "text")
    assert "python->js" in text and "py>js" not in text


def test_text_narrow_terminal_truncates_labels():
    r = full_run()
    r.cells.append(cell("at-least-once", ("cpp", "cpp"), fault="x" * 60))
    text = render(r, "text", width=80)
    assert all(len(line) <= 80 for line in text.splitlines() if not line.startswith(" "))
    assert "~" in text


def test_abbreviations_are_unique():
    assert abbreviations(["python", "cpp", "js"]) == {"python": "py", "cpp": "cpp", "js": "js"}
    a = abbreviations(["python", "pyro", "pyrotechnic", "js"])
    assert len(set(a.values())) == 4


def test_markdown_report():
    md = render(full_run(), "markdown")
    assert "## rabbitmq: RabbitMQ 3.10.8" in md
    header = next(line for line in md.splitlines() if line.startswith("| scenario"))
    assert header.count("|") == 11 and "python->js" in header
    assert "| at-least-once / cut3 | pass | pass | FAIL |" in md
    assert f"- **FAIL** `{FAIL_ID}`" in md
    # markdown-sensitive characters in the reason are escaped
    assert "\\<lost> &" in md
    assert "rerun: `interop run --broker embedded" in md
    assert md.rstrip().endswith("**60 cells: 49 pass, 1 xfail, 9 unsupported, 1 fail**")


def test_markdown_escapes_pipes_in_table_labels():
    md = render(run([cell("at-least-once", fault="a|b")]), "markdown")
    assert "| at-least-once / a\\|b | pass |" in md


def _html_tree(html):
    return ET.fromstring(html.replace("<!DOCTYPE html>", ""))


def test_html_well_formed_with_colours_tooltips_and_links():
    r = full_run()
    r.cells[0].reason = 'nasty \x01 <script>alert("x")</script> & more'
    r.cells[0].verdict = "fail"
    html = render(r, "html")
    assert html.startswith("<!DOCTYPE html>")
    root = _html_tree(html)
    assert "<script>" not in html
    tds = {td.get("title", "").split(":")[0]: td for td in root.iter("td") if td.get("title")}
    failed = tds[FAIL_ID]
    assert failed.get("class") == "v-fail"
    assert "3 of 1000 ids never received" in failed.get("title")
    link = failed.find("a")
    assert link.text == "FAIL"
    assert link.get("href") == "cells/at-least-once-cut3-python-%3Ejs-embedded/index.html"
    assert tds["request-response-js->js-rabbitmq"].get("class") == "v-unsupported"
    assert any(td.get("class") == "none" and td.text == "-" for td in root.iter("td"))
    assert [h.text for h in root.iter("h2")][:2] == [
        "embedded: amqp-interop embedded broker 0.1.0",
        "rabbitmq: RabbitMQ 3.10.8",
    ]
    text = "".join(root.itertext())
    assert "interop run --broker embedded --scenario at-least-once" in text
    assert "60 cells: 48 pass" in text


def test_junit_structure():
    xml = render(full_run(), "junit")
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml.encode())
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["embedded", "rabbitmq"]
    assert [s.get("tests") for s in suites] == ["30", "30"]
    assert suites[0].get("failures") == "1" and suites[0].get("skipped") == "0"
    assert suites[1].get("failures") == "0" and suites[1].get("skipped") == "10"
    assert root.get("tests") == "60" and root.get("failures") == "1"
    props = {p.get("name"): p.get("value") for p in suites[1].iter("property")}
    assert props == {"product": "RabbitMQ", "version": "3.10.8"}
    case = next(
        c
        for c in suites[0].iter("testcase")
        if c.get("classname") == "at-least-once.cut3" and c.get("name") == "python->js"
    )
    failure = case.find("failure")
    assert failure.get("type") == "at-least-once.nothing-lost"
    assert failure.get("message") == '3 of 1000 ids never received <lost> & "dropped"'
    assert "rerun: interop run" in case.find("system-out").text
    hello = next(c for c in suites[0].iter("testcase") if c.get("classname") == "hello-world.none")
    assert hello.get("name") == "python"
    unsup = [c for c in suites[1].iter("testcase") if c.get("classname") == "request-response.none"]
    assert all(c.find("skipped").get("type") == "unsupported" for c in unsup)


def test_junit_xpass_strict_and_control_characters():
    r = run([cell(verdict="xpass", reason="known failure k no longer happens \x00\x1b[31m")])
    lax = ET.fromstring(render(r, "junit").encode())
    assert lax.find(".//failure") is None and lax.get("failures") == "0"
    strict = ET.fromstring(render(r, "junit", strict=True).encode())
    assert strict.find(".//failure") is not None and strict.get("failures") == "1"
    assert "\x1b" not in strict.find(".//failure").get("message")


def test_empty_run_renders_everywhere():
    r = run([])
    for fmt in ("text", "markdown", "html", "junit"):
        out = render(r, fmt)
        assert out.endswith("\n")
    assert render(r, "text").splitlines()[-1] == "0 cells: 0 pass, 0 fail"
    ET.fromstring(render(r, "junit").encode())
    _html_tree(render(r, "html"))


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown report format 'pdf' \\(expected text, markdown"):
        render(run([]), "pdf")


@settings(max_examples=60, deadline=None)
@given(
    reason=st.text(max_size=80),
    fault=st.text(min_size=1, max_size=20),
    peer=st.text(min_size=1, max_size=10),
)
def test_any_text_keeps_html_and_junit_well_formed(reason, fault, peer):
    c = cell(
        "at-least-once", (peer, "js"), verdict="fail", fault=fault, reason=reason, rerun=reason
    )
    r = run([c, cell("hello-world", (peer,), verdict="xfail", reason=reason)])
    ET.fromstring(render(r, "junit").encode())
    _html_tree(render(r, "html"))
    assert render(r, "text").splitlines()[-1].startswith("2 cells:")
    md = render(r, "markdown")
    assert len([line for line in md.splitlines() if line.startswith("- **")]) == 2
