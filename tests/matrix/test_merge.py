import json

import pytest

from harness.matrix.merge import merge, merge_files
from harness.matrix.results import RunResult
from tests.matrix.sample import EMBEDDED, RABBIT, cell, full_run, run


def shards(r: RunResult, n: int) -> list[RunResult]:
    out = []
    for k in range(n):
        out.append(
            RunResult(
                brokers=[dict(b) for b in r.brokers],
                peers=[dict(p) for p in r.peers],
                cells=r.cells[k::n],
                started_at=f"2024-05-01T10:0{k}:00+00:00",
                duration_s=10.0 + k,
                command=f"interop run --shard {k + 1}/{n}",
            )
        )
    return out


def test_merge_gives_back_the_whole_run():
    whole = full_run()
    parts = shards(whole, 3)[::-1]  # order of the files does not matter for content
    merged = merge(parts)
    assert sorted(c.id for c in merged.cells) == sorted(c.id for c in whole.cells)
    assert merged.duration_s == pytest.approx(33.0)
    assert merged.started_at == "2024-05-01T10:00:00+00:00"
    assert merged.command == "interop run --shard 3/3"
    assert [b["name"] for b in merged.brokers] == ["embedded", "rabbitmq"]
    assert len(merged.peers) == 3


def test_earliest_start_across_time_zones():
    a = run([cell("hello-world", ("js",))], started_at="2024-05-01T12:00:00+02:00")
    b = run([cell("hello-world", ("cpp",))], started_at="2024-05-01T10:30:00+00:00")
    assert merge([b, a]).started_at == "2024-05-01T12:00:00+02:00"


def test_identical_duplicates_are_fine_different_ones_are_not():
    a = run([cell()])
    b = run([cell()])
    assert len(merge([a, b]).cells) == 1
    c = run([cell(verdict="fail", reason="boom")])
    with pytest.raises(ValueError) as e:
        merge([a, c], ["a.json", "c.json"])
    assert str(e.value) == (
        "c.json: cell at-least-once-python->js-embedded differs from the one in a.json"
        " (pass vs fail)"
    )


def test_brokers_and_peers_are_unioned():
    a = run([cell(broker="embedded")], brokers=[dict(EMBEDDED)], peers=[{"name": "python"}])
    b = run(
        [cell(broker="rabbitmq")],
        brokers=[dict(RABBIT)],
        peers=[{"name": "python"}, {"name": "js", "version": "3"}],
    )
    merged = merge([a, b])
    assert [x["name"] for x in merged.brokers] == ["embedded", "rabbitmq"]
    assert [x["name"] for x in merged.peers] == ["python", "js"]


def test_conflicting_broker_identity():
    a = run([cell("hello-world", ("js",))], brokers=[dict(RABBIT)])
    b = run([cell("hello-world", ("cpp",))], brokers=[dict(RABBIT, version="3.11.0")])
    with pytest.raises(ValueError, match="b: broker 'rabbitmq' has version '3.11.0', but a has"):
        merge([a, b], ["a", "b"])


def test_merge_files(tmp_path):
    paths = []
    for i, part in enumerate(shards(full_run(), 2)):
        p = tmp_path / f"shard{i}.json"
        part.save(p)
        paths.append(p)
    merged = merge_files(paths)
    assert len(merged.cells) == 60
    out = tmp_path / "merged.json"
    merged.save(out)
    assert len(json.loads(out.read_text())["cells"]) == 60


def test_merge_files_errors(tmp_path):
    with pytest.raises(ValueError, match="no results files"):
        merge_files([])
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1}')
    with pytest.raises(ValueError, match=r"bad.json: not a results file \(missing 'cells'\)"):
        merge_files([bad])
    with pytest.raises(ValueError, match="no results to merge"):
        merge([])


def test_rebase_points_cells_at_their_shard_folder_from_the_merged_file(tmp_path):
    from harness.matrix.merge import rebase_artifacts

    part = run([cell("hello-world", ("js",)), cell("hello-world", ("cpp",), artifacts="")])
    moved = rebase_artifacts(part, tmp_path / "shards" / "s1", tmp_path / "out")
    assert moved.cells[0].artifacts == "../shards/s1/cells/hello-world-js-embedded"
    assert moved.cells[1].artifacts == ""  # a cell without a folder keeps none
    assert part.cells[0].artifacts == "cells/hello-world-js-embedded"  # the input is untouched
