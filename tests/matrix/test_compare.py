from typing import Any

import pytest

from harness.matrix.compare import (
    Change,
    classify,
    compare,
    compare_exit_code,
    render_changes,
    summary,
)
from tests.matrix.sample import EMBEDDED, RABBIT, cell, full_run, run


@pytest.mark.parametrize(
    "old, new, kind",
    [
        ("pass", "pass", None),
        ("pass", "fail", "regression"),
        ("pass", "xfail", "regression"),
        ("xfail", "fail", "regression"),
        ("skipped", "fail", "regression"),
        ("fail", "pass", "fixed"),
        ("xfail", "xpass", "fixed"),
        ("fail", "xfail", "changed"),
        ("pass", "skipped", "changed"),
        ("unsupported", "pass", "changed"),
        ("unsupported", "xfail", "changed"),
    ],
)
def test_classify(old, new, kind):
    assert classify(old, new) == kind


def test_identical_runs_have_no_changes():
    changes = compare(full_run(), full_run())
    assert changes == []
    assert compare_exit_code(changes) == 0
    assert render_changes(changes) == "compare: no changes\n"


def test_verdict_new_removed_reason_and_versions():
    old = full_run()
    new = full_run()
    new.brokers[1] = dict(RABBIT, version="3.11.0")
    new.peers[2] = {"name": "js", "version": "3.1.0"}
    new.peers.append({"name": "go", "version": "1.0"})
    by_id = {c.id: c for c in new.cells}
    by_id["at-least-once-cut3-python->js-embedded"].verdict = "pass"  # fixed
    by_id["at-least-once-js->js-embedded"].verdict = "fail"  # regression
    by_id["at-least-once-js->js-embedded"].reason = "2 ids lost"
    by_id["request-response-js->js-rabbitmq"].reason = "other words"  # reason change
    new.cells.remove(by_id["hello-world-cpp-embedded"])  # removed
    new.cells.append(cell("hello-world", ("go",), "embedded"))  # new
    changes = compare(old, new)
    kinds = [c.kind for c in changes]
    assert kinds == ["broker", "peer", "peer", "regression", "fixed", "new", "removed", "reason"]
    assert changes[0] == Change("broker", "rabbitmq", "RabbitMQ 3.10.8", "RabbitMQ 3.11.0")
    assert changes[1].describe() == "peer js: 3.0.3 -> 3.1.0"
    assert changes[2].describe() == "peer go: (absent) -> 1.0"
    assert changes[3].describe() == (
        "regression at-least-once-js->js-embedded: pass -> fail (2 ids lost)"
    )
    assert compare_exit_code(changes) == 1
    assert summary(changes) == (
        "1 broker, 2 peer, 1 regression, 1 fixed, 1 new, 1 removed, 1 reason"
    )
    text = render_changes(changes)
    assert text.splitlines()[0].startswith("compare: 1 broker")
    assert "  removed hello-world-cpp-embedded: was pass" in text
    md = render_changes(changes, "markdown")
    assert md.startswith("**compare:") and "- regression at-least-once-js-\\>js" not in md
    assert "- regression at-least-once-js->js-embedded" in md


def test_fixed_only_exits_zero():
    old = run([cell(verdict="fail", reason="x")])
    new = run([cell(verdict="pass")])
    assert compare_exit_code(compare(old, new)) == 0


def test_unknown_compare_format():
    with pytest.raises(ValueError, match="unknown compare format"):
        render_changes([], "html")


def test_cli_compare_prints_the_changes_and_exits_1_on_a_regression(tmp_path, capsys):
    """``interop compare`` is render_changes + compare_exit_code over two results files."""
    from harness.cli import main

    old, new = run([cell()]), run([cell(verdict="fail")])
    old.save(tmp_path / "old.json")
    new.save(tmp_path / "new.json")
    assert main(["compare", str(tmp_path / "old.json"), str(tmp_path / "new.json")]) == 1
    assert capsys.readouterr().out.strip() == render_changes(compare(old, new)).strip()


def test_package_keeps_submodules_reachable():
    import types

    import harness.matrix as m
    from harness.matrix import merge

    assert isinstance(m.compare, types.ModuleType) and isinstance(merge, types.ModuleType)
    assert m.compare_runs is compare and callable(m.merge_runs)
    assert set(m.__all__) <= set(dir(m))


def _selection(**kw):
    rec = {
        "pairs": None,
        "modes": {"embedded": "all", "rabbitmq": "all"},
        "peers": ["cpp", "js", "python"],
        "brokers": ["embedded", "rabbitmq"],
        "scenarios": ["hello-world", "at-least-once", "request-response"],
        "faults": None,
        "cells": None,
        "shard": None,
        "cover": {},
    }
    rec.update(kw)
    return rec


def test_cells_outside_the_new_selection_are_not_gone():
    """All pairs last time, with:js and fewer peers now: only selected cells can be removed."""
    old = full_run()
    modes = {"embedded": "with:js", "rabbitmq": "with:js"}
    new = full_run()
    new.selection = _selection(modes=modes, peers=["js", "python"], pairs="with:js")
    gone = "at-least-once-python->js-embedded"  # selected (js, python only) but missing
    new.cells = [
        c
        for c in new.cells
        if "js" in c.roles.values() and "cpp" not in c.roles.values() and c.id != gone
    ]
    changes = compare(old, new)
    assert [c.id for c in changes if c.kind == "removed"] == [gone]
    outside = [c for c in changes if c.kind == "unselected"]
    assert len(outside) == len(old.cells) - len(new.cells) - 1
    assert all("cpp" in c.id or "js" not in c.id for c in outside)
    text = render_changes(changes)
    assert text.splitlines()[0].endswith(f"1 removed, {len(outside)} unselected")
    assert "  unselected " not in text  # counted, not listed
    assert compare_exit_code(changes) == 0


def test_a_shard_or_a_cover_never_reports_the_rest_as_gone():
    old = full_run()
    new = full_run()
    new.cells = new.cells[::3]
    new.selection = _selection(shard="1/3")
    assert {c.kind for c in compare(old, new)} == {"unselected"}
    cover = {"at-least-once": ["python->cpp", "cpp->js", "js->python"]}
    new = full_run()
    new.selection = _selection(modes={"embedded": "all", "rabbitmq": "cover"}, cover=cover)
    new.cells = [
        c for c in new.cells if c.broker == "embedded" or c.pair in cover.get(c.scenario, [c.pair])
    ]
    kinds = {c.id: c.kind for c in compare(old, new)}
    assert kinds["at-least-once-python->python-rabbitmq"] == "unselected"
    assert "at-least-once-python->cpp-rabbitmq" not in kinds
    # results written before selections were recorded: every missing cell is gone, as before
    new.selection = None
    assert kinds.keys() == {c.id for c in compare(old, new) if c.kind == "removed"}


_ANYCAST = {"variant": "anycast", "routing": "anycast", "fsync": False, "journal": "MAPPED"}
_STOCK = {"variant": "stock", "routing": "multicast", "fsync": False, "journal": "MAPPED"}


def _artemis_run(profile: dict | None, verdict: str = "pass") -> Any:
    entry = {"name": "artemis", "product": "apache-activemq-artemis", "version": "2.56.0"}
    if profile is not None:
        entry["profile"] = dict(profile)
    cells = [
        cell("at-least-once", ("python", "js"), "artemis"),
        cell("hello-world", ("js",), "embedded"),
    ]
    cells[0].verdict = verdict
    return run(cells, brokers=[dict(EMBEDDED), entry])


def test_same_version_other_profile_is_another_broker_not_a_regression():
    changes = compare(_artemis_run(_ANYCAST), _artemis_run(_STOCK, verdict="fail"))
    assert [c.kind for c in changes] == ["broker"]  # the failing cell is not diffed
    line = changes[0].describe()
    assert line == (
        "broker artemis: apache-activemq-artemis 2.56.0"
        " [fsync=False journal=MAPPED routing=anycast variant=anycast] ->"
        " apache-activemq-artemis 2.56.0"
        " [fsync=False journal=MAPPED routing=multicast variant=stock]"
        " (different profiles: another broker, its 1 cells are not compared)"
    )
    assert compare_exit_code(changes) == 0
    assert render_changes(changes).splitlines()[1] == f"  {line}"


def test_a_profile_recorded_on_one_side_only_is_a_different_profile():
    changes = compare(_artemis_run(None), _artemis_run(_ANYCAST, verdict="fail"))
    assert [c.kind for c in changes] == ["broker"]
    assert "not compared" in changes[0].describe()


def test_same_profile_cells_are_compared_and_the_profile_is_in_the_identity():
    assert compare(_artemis_run(_ANYCAST), _artemis_run(dict(_ANYCAST))) == []
    changes = compare(_artemis_run(_ANYCAST), _artemis_run(_ANYCAST, verdict="fail"))
    assert [c.kind for c in changes] == ["regression"]
    old, new = _artemis_run(_ANYCAST), _artemis_run(_ANYCAST, verdict="fail")
    new.brokers[1]["version"] = "2.44.0"  # another version: its cells are compared as before
    changes = compare(old, new)
    assert [c.kind for c in changes] == ["broker", "regression"]
    assert changes[0].new == "apache-activemq-artemis 2.44.0 " + (
        "[fsync=False journal=MAPPED routing=anycast variant=anycast]"
    )
    assert changes[0].new_reason == ""
