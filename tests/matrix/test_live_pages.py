"""Cell pages written as each cell ends equal the pages written afterwards from the files.

``interop run`` writes a cell's ``index.html`` from the events it still holds
(``LivePages``) instead of reading ``trace.jsonl`` back after the run; the page
must be the one ``interop report`` would write from the cell folder alone.
"""

from __future__ import annotations

from pathlib import Path

from harness.cli import main
from harness.matrix import results
from harness.matrix.html_site import write_site


def test_live_pages_equal_pages_from_the_files(tmp_path: Path, monkeypatch, capsys) -> None:
    import harness.matrix.html_site as site

    live_cells: list[str] = []
    original = site.write_cell_page

    def spy(run, c, results_dir, report=None, events=None):
        if events is not None:
            live_cells.append(c.id)
        return original(run, c, results_dir, report, events)

    monkeypatch.setattr(site, "write_cell_page", spy)
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--peers",
            "python",
            "--scenario",
            "hello-world,direct,at-least-once",
            "--fault",
            "none,cut1",
            "--count",
            "30",
            "--out",
            str(out),
        ]
    )
    capsys.readouterr()
    assert code == 0
    live = {p: p.read_text() for p in out.glob("*/index.html")}
    assert len(live) >= 3 and len(live_cells) == len(live), "every page was written live"
    for p in live:
        p.unlink()
    run = results.load(out / "results.json")
    write_site(run, out)
    for p, text in live.items():
        assert p.read_text() == text, f"{p.parent.name}: the live page differs"


def test_a_page_that_fails_live_is_written_from_the_files(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    import harness.matrix.html_site as site

    def broken(*args, **kwargs):
        raise RuntimeError("no page now")

    monkeypatch.setattr(site, "RunResult", broken)  # only the live path makes a RunResult there
    out = tmp_path / "run"
    assert main(["run", "--peers", "python", "--scenario", "hello-world", "--out", str(out)]) == 0
    capsys.readouterr()
    (page,) = out.glob("*/index.html")
    assert "hello-world" in page.read_text()
