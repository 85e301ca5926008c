"""report.html and the cell pages, as files: well-formed, self-contained, saying what they must.

Why: the pages are archived with a run and opened from disk, maybe years
later, maybe from a CI artifact: they must need nothing from the network
(no http(s) reference, no script), every link must lead to a file that is
there, text from the wire must never become markup, and a reader must find
the verdicts, who took part, the failing rule with what it rests on, and
where on the handshake it went wrong.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import pytest

from harness.cli import main
from harness.matrix.html_site import write_site

from .html_sample import ERROR_REASON, EVIL, TRACEBACK, write_results

FAIL_PAGE = "at-least-once-python_to_js-embedded/index.html"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    r = write_results(out)
    s = write_site(r, out)
    assert s.report == out / "report.html" and s.missing == ["at-least-once-js->python-embedded"]
    return out


def _tree(path: Path) -> ET.Element:
    return ET.fromstring(path.read_text().replace("<!DOCTYPE html>", "", 1))


def _text(root: ET.Element) -> str:
    return " ".join(" ".join(root.itertext()).split())


def _pages(out: Path) -> list[Path]:
    return [out / "report.html", *sorted(out.glob("*/index.html"))]


def test_a_page_per_cell_folder_and_none_for_a_missing_one(site: Path) -> None:
    assert sorted(p.parent.name for p in site.glob("*/index.html")) == [
        "at-least-once-python_to_js-embedded",
        "direct-js_to_python",
        "hello-world-python-embedded",
    ]


def test_a_passing_cell_page_says_how_to_print_its_trace_text(site: Path) -> None:
    ok = (site / "hello-world-python-embedded" / "index.html").read_text()
    bad = (site / "at-least-once-python_to_js-embedded" / "index.html").read_text()
    assert "interop trace hello-world-python-embedded</code> prints it" in ok
    assert 'href="trace.txt"' in bad and "prints it" not in bad


def test_pages_are_well_formed_self_contained_and_links_resolve(site: Path) -> None:
    for page in _pages(site):
        html = page.read_text()
        assert html.startswith("<!DOCTYPE html>")
        assert not re.search(r"https?:", html), page
        assert "<script" not in html.lower() and "<link" not in html and "@import" not in html
        root = _tree(page)
        ids = {el.get("id") for el in root.iter() if el.get("id")}
        for el in root.iter():
            for attr in ("href", "src"):
                target = el.get(attr)
                if target is None:
                    continue
                assert not target.startswith(("/", "file:", "data:")), (page, target)
                path, _, fragment = target.partition("#")
                if not path:
                    assert fragment in ids, (page, target)
                    continue
                assert (page.parent / unquote(path)).exists(), (page, target)


def test_report_matrix_colours_tooltips_and_who_took_part(site: Path) -> None:
    root = _tree(site / "report.html")
    tds = {td.get("title", "").split(":")[0]: td for td in root.iter("td") if td.get("title")}
    bad = tds["at-least-once-python->js-embedded"]
    assert bad.get("class") == "v-fail" and "[credit]" in bad.get("title")
    assert bad.find("a").get("href") == "at-least-once-python_to_js-embedded/index.html"
    err = tds["direct-js->python"]
    assert err.get("class") == "v-error" and err.find("a").text == "ERROR"
    gone = tds["at-least-once-js->python-embedded"]
    assert gone.find("a") is None and "missing" in gone.get("title")
    text = _text(root)
    for expected in (
        "4 cells: 1 pass, 2 fail, 1 error",
        "embedded: amqp-interop embedded broker 0.1.0",
        "12.3 s",
        "interop run --peers python,js",
        "Slowest cells",
    ):
        assert expected in text, expected
    assert re.search(r"python\s*: 0\.40\.0", text)  # peers' versions
    assert [h.text for h in root.iter("h2")][:2] == [
        "embedded: amqp-interop embedded broker 0.1.0",
        "no broker (peer to peer)",
    ]


def test_failing_cell_page_quotes_the_rule_and_highlights_it_on_the_diagram(site: Path) -> None:
    root = _tree(site / FAIL_PAGE)
    text = _text(root)
    assert "Based on: AMQP 1.0 2.6.7" in text and "flow control" in text
    assert "before any credit" in text
    assert "receiver.duplicates 0" in text  # the figures
    assert "interop run --broker embedded --cell 'at-least-once-python->js-embedded'" in text
    svgs = list(root.iter("svg"))
    assert [s.get("class") for s in svgs] == ["progress", None]  # messages over time, diagram
    svg = svgs[1]
    spots = [g for g in svg.iter("g") if (g.get("class") or "").startswith("spot spot-failed")]
    assert len(spots) == 1 and "✗ failure 1" in "".join(spots[0].itertext())
    links = [a.get("href") for a in root.iter("a") if (a.get("href") or "").startswith("#ev")]
    assert links == [f"#{spots[0].get('id')}"]
    assert any(g.get("class") == "folded" for g in svg.iter("g"))  # 40 messages, folded
    files = {a.text for a in root.iter("code") if a.text and "." in a.text}
    assert {"trace.jsonl", "verdict.json", "broker.log.txt", "sender.stdout.jsonl"} <= files


def test_error_cell_page_names_the_stage_and_shows_the_traceback(site: Path) -> None:
    root = _tree(site / "direct-js_to_python/index.html")
    text = _text(root)
    assert "failed in stage broker-setup" in text
    pre = "".join("".join(p.itertext()) for p in root.iter("pre"))
    assert ERROR_REASON in pre and TRACEBACK in pre
    assert "The trace is empty." in text


def test_wire_text_is_escaped_everywhere(site: Path) -> None:
    for page in _pages(site):
        assert EVIL not in page.read_text()
    page = (site / FAIL_PAGE).read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert EVIL in _text(_tree(site / FAIL_PAGE))  # shown as text, as written


def test_interop_report_rebuilds_every_page_from_results_json(site: Path, tmp_path, capsys):
    for p in site.glob("*/index.html"):
        p.unlink()
    elsewhere = tmp_path / "pub" / "matrix.html"
    elsewhere.parent.mkdir()
    assert main(["report", str(site), "--format", "html", "-o", str(elsewhere)]) == 0
    assert "3 cell pages" in capsys.readouterr().err
    root = _tree(elsewhere)
    link = next(a.get("href") for a in root.iter("a") if "index.html" in (a.get("href") or ""))
    assert (elsewhere.parent / unquote(link)).exists()
    back = _tree(site / FAIL_PAGE).find(".//nav/a").get("href")
    assert (site / FAIL_PAGE).parent.joinpath(back).resolve() == elsewhere.resolve()


def test_a_results_file_of_another_version_is_one_line_and_exit_2(site: Path, capsys):
    data = json.loads((site / "results.json").read_text())
    data["version"] = 2
    (site / "results.json").write_text(json.dumps(data))
    assert main(["report", str(site), "--format", "html"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unsupported results version 2" in err
