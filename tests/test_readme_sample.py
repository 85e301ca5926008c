"""README's sample of ``interop run`` is what the text renderer prints for that matrix.

Why: the sample drifted once (columns, header, legend all differed from the
real output). Here the sample is read back into a run (brokers, peers,
cells and their verdicts, as the table shows them) and rendered again with
the code that ``interop run`` uses; the two texts must be equal, so a change
to the header, the legend, the marks or the layout fails until the README
shows it too.
"""

from __future__ import annotations

import re

from harness.env import ROOT
from harness.matrix.report import MARKS, NOT_RUN, ROW_HEADER
from harness.matrix.report_text import abbreviations, render_text
from harness.matrix.results import NO_FAULT, CellResult, RunResult, cell_id

SECTION = "## What a run looks like"


def _sample() -> list[str]:
    text = (ROOT / "README.md").read_text()
    body = text.split(SECTION, 1)[1]
    block = re.search(r"```\n\$ (interop run[^\n]*)\n(.*?)```", body, re.S)
    assert block, "README has no `$ interop run` sample under " + SECTION
    lines = block.group(2).splitlines()
    assert lines[1] == f"command: {block.group(1)}", "the sample's command line is not its prompt"
    return lines


def _peers(line: str, column_parts: set[str]) -> list[dict[str, str]]:
    """``cpp v1, js rhea 3, node v20`` -> peers; an entry whose name is no column's is a version part."""
    peers: list[dict[str, str]] = []
    for entry in line.split(", "):
        name, _, version = entry.partition(" ")
        if peers and not column_parts & {name, *abbreviations([name]).values()}:
            peers[-1]["version"] += ", " + entry
        else:
            peers.append({"name": name, "version": version})
    return peers


def _run_from(lines: list[str]) -> RunResult:
    head = re.fullmatch(r"Interop matrix, (\S+), ([0-9.]+) s", lines[0])
    assert head, lines[0]
    command = lines[1].removeprefix("command: ")
    headers = next(ln for ln in lines if ln.startswith(ROW_HEADER)).split()[
        len(ROW_HEADER.split()) :
    ]
    parts = {p for h in headers for p in h.split(">")}
    peers = _peers(lines[2].removeprefix("peers: "), parts)
    full = {abbreviations([p["name"] for p in peers])[p["name"]]: p["name"] for p in peers}
    full.update({p["name"]: p["name"] for p in peers})
    inverse = {mark: verdict for verdict, mark in MARKS.items()}
    brokers, cells, broker, in_table, col0 = [], [], "", False, 0
    for ln in lines[3:]:
        title = re.fullmatch(r"== (.*) ==", ln)
        if title:
            name, _, ident = title.group(1).partition(": ")
            broker = "" if name.startswith("no broker") else name
            if broker:
                product, _, version = ident.rpartition(" ")
                brokers.append({"name": broker, "product": product, "version": version})
            in_table = True
            continue
        if not ln:
            in_table = False
        if in_table and ln.startswith(ROW_HEADER):  # marks start where its first column does
            col0 = len(ln) - len(ln[len(ROW_HEADER) :].lstrip())
            continue
        if not in_table:
            continue
        label, marks = ln[:col0].rstrip(), ln[col0:]
        scenario, _, fault = label.partition(" / ")
        for col, mark in zip(headers, marks.split(), strict=True):
            if mark == NOT_RUN:
                continue
            a, b = (full[p] for p in col.split(">"))
            roles = {"a": a, "b": b}
            cells.append(
                CellResult(
                    id=cell_id(scenario, fault or NO_FAULT, roles, broker or None),
                    scenario=scenario,
                    fault=fault or NO_FAULT,
                    broker=broker,
                    roles=roles,
                    verdict=inverse[mark],
                )
            )
    return RunResult(
        brokers=brokers,
        peers=peers,
        cells=cells,
        started_at=head.group(1),
        duration_s=float(head.group(2)),
        command=command,
    )


def test_readme_sample_is_what_the_renderer_prints():
    lines = _sample()
    assert render_text(_run_from(lines)).splitlines() == lines


def test_readme_names_every_mark_the_legend_has():
    text = (ROOT / "README.md").read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    for mark in [*MARKS.values(), NOT_RUN]:
        assert f"`{mark}`" in text, mark
