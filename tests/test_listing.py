"""``interop peers`` / ``interop brokers``: aligned columns whatever the reasons say.

Why: on a fresh machine most rows are unavailable, each with a reason long
enough to name the missing package; the table must still read as a table, and
the container hint must name the project's own extra.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from harness import cli, listing
from harness.listing import Row, render

LONG = (
    "proton/messaging_handler.hpp not found (install libqpid-proton-cpp12-dev, "
    "or set CPLUS_INCLUDE_PATH to the folder that holds it)"
)


def _column_starts(line: str, words: list[str]) -> list[int]:
    return [line.index(w) for w in words]


def test_a_long_reason_goes_below_its_row_and_columns_stay_aligned() -> None:
    rows = [
        Row(["python", "available", "proton 0.40.0", "[a,b]"], "the python peer"),
        Row(["cpp", "unavailable", "-", "[a]"], "the C++ peer", LONG),
        Row(["js", "available", "rhea 3.0.5, node v20", "[a,b,c]"], "the js peer"),
    ]
    lines = render(rows).splitlines()
    assert len(lines) == 3 + 1
    python, cpp, why, js = lines
    for line, cells in ((python, rows[0].cells), (cpp, rows[1].cells), (js, rows[2].cells)):
        assert line.split()[0] == cells[0]
    # each column starts at the same offset on every row
    assert python.index("available") == cpp.index("unavailable") == js.index("available")
    assert python.index("proton") == cpp.index("-  ") == js.index("rhea")
    assert python.index("[a,b]") == cpp.index("[a]") == js.index("[a,b,c]")
    assert python.index("the python") == cpp.index("the C++") == js.index("the js")
    # the reason is whole (a command in it stays copyable), on its own indented line
    assert why == listing.INDENT + LONG
    assert all(line == line.rstrip() for line in lines)


def test_no_rows_is_no_text() -> None:
    assert render([]) == ""


def _impl(name: str, reason: str | None, version: str) -> SimpleNamespace:
    return SimpleNamespace(
        name=name,
        unavailable=lambda: reason,
        version=lambda: version,
        capabilities=frozenset({"listen", "dynamic"}),
        description=f"{name} peer",
    )


def test_peers_table_hides_the_version_of_an_unavailable_peer() -> None:
    text = listing.peers_table(
        [_impl("python", None, "proton 0.40.0"), _impl("cpp", LONG, "never asked")]
    )
    python, cpp, why = text.splitlines()
    assert "never asked" not in text
    assert python.index("proton 0.40.0") == cpp.index("-")
    assert python.index("[dynamic,listen]") == cpp.index("[dynamic,listen]")
    assert why == listing.INDENT + LONG


def test_interop_peers_keeps_columns_aligned_with_a_long_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.toolchains import cpp

    monkeypatch.setattr(cpp, "unavailable", lambda: LONG)
    assert cli.main(["peers"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if not line.startswith(" ")}
    assert {"python", "cpp"} <= set(rows)
    desc = {name: line.index("[") for name, line in rows.items()}
    assert len(set(desc.values())) == 1, out  # the capability column lines up
    reason_lines = [line for line in out.splitlines() if line.startswith(listing.INDENT)]
    assert reason_lines and reason_lines[0].strip().startswith("proton/messaging_handler.hpp")


def test_missing_testcontainers_names_the_projects_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "testcontainers.core.container", None)  # import fails
    assert cli.main(["brokers"]) == 0
    out = capsys.readouterr().out
    assert "pip install 'amqp-interop[containers]'" in out, out
    assert "pip install -e '.[containers]'" in out, out
    assert "pip install testcontainers" not in out, out
    lines = out.splitlines()
    container = next(line for line in lines if line.startswith("container "))
    embedded = next(line for line in lines if line.startswith("embedded "))
    assert container.split()[1] == "unavailable"
    # the description column still lines up with the available rows
    assert container.index("a broker in a Docker") == embedded.index("reference broker")
