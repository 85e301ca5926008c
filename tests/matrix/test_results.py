import json

import pytest

from harness.matrix.results import (
    CellResult,
    RunResult,
    cell_id,
    counts,
    exit_code,
    load,
    pair_name,
    save,
    unexpected_failures,
)
from tests.matrix.sample import cell, full_run, run


def test_cell_id_two_roles_with_fault():
    roles = {"sender": "python", "receiver": "js"}
    assert cell_id("at-least-once", "cut3", roles, "embedded") == (
        "at-least-once-cut3-python->js-embedded"
    )


def test_cell_id_one_role_no_fault():
    assert cell_id("hello-world", "none", ["cpp"], "rabbitmq") == "hello-world-cpp-rabbitmq"


def test_cell_id_without_broker():
    assert cell_id("direct", None, ("js", "python"), "") == "direct-js->python"


def test_pair_follows_role_order():
    assert pair_name({"receiver": "js", "sender": "python"}) == "js->python"
    assert cell("at-least-once", ("cpp", "js")).pair == "cpp->js"


def test_round_trip(tmp_path):
    r = full_run()
    path = tmp_path / "results.json"
    save(r, path)
    back = load(path)
    assert back.to_json() == r.to_json()
    c = next(c for c in back.cells if c.verdict == "fail")
    assert c.rule == "at-least-once.nothing-lost"
    assert c.rerun.startswith("interop run")
    assert c.figures["duplicates"] == 3
    assert list(c.roles) == ["sender", "receiver"]
    assert not (tmp_path / "results.json.tmp").exists()


def test_file_has_documented_shape(tmp_path):
    path = tmp_path / "results.json"
    run([cell()]).save(path)
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert set(data) >= {"version", "brokers", "peers", "cells", "started_at", "duration_s"}
    assert set(data["cells"][0]) >= {
        "id",
        "scenario",
        "fault",
        "broker",
        "roles",
        "verdict",
        "reason",
        "duration_s",
        "artifacts",
    }
    assert "rerun" not in data["cells"][0]


def test_minimal_cell_defaults():
    c = CellResult.from_json({"id": "x", "scenario": "hello-world", "verdict": "pass"})
    assert c.fault == "none" and c.broker == "" and c.roles == {} and c.rule is None


def test_reason_is_folded_to_one_line():
    d = cell(verdict="fail").to_json()
    d["reason"] = "first\n  second\tthird"
    assert CellResult.from_json(d).reason == "first second third"


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "results.json: not JSON"),
        ("[]", "results.json: not a results file (not a JSON object)"),
        ('{"version": 1}', "results.json: not a results file (missing 'cells')"),
        ('{"version": 2, "cells": []}', "results.json: unsupported results version 2"),
        ('{"cells": []}', "results.json: unsupported results version None"),
        ('{"version": 1, "cells": {}}', "results.json: 'cells' must be a list"),
        ('{"version": 1, "cells": [3]}', "results.json: cell 0: not an object"),
        ('{"version": 1, "cells": [{"id": "a", "scenario": "s"}]}', "missing or empty 'verdict'"),
        (
            '{"version": 1, "cells": [{"id": "a", "scenario": "s", "verdict": "meh"}]}',
            "results.json: cell 0 (a): unknown verdict 'meh'",
        ),
        (
            '{"version": 1, "cells": [{"id": "a", "scenario": "s", "verdict": "pass", "roles": [1]}]}',
            "'roles' must map",
        ),
        (
            '{"version": 1, "cells": [{"id": "a", "scenario": "s", "verdict": "pass",'
            ' "duration_s": "x"}]}',
            "'duration_s' is not a number",
        ),
        ('{"version": 1, "cells": [], "brokers": [{"product": "x"}]}', "'brokers' must be a list"),
    ],
)
def test_bad_documents(tmp_path, text, message):
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        RunResult.load(path)
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert str(e.value).startswith(str(path))


def test_missing_and_directory(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="is a directory"):
        load(tmp_path)


def test_binary_garbage(tmp_path):
    path = tmp_path / "results.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="cannot read|not JSON"):
        load(path)


def test_from_json_source_name():
    with pytest.raises(ValueError, match=r"^results.json: not a results file \(missing 'cells'\)$"):
        RunResult.from_json({"version": 1})


def test_counts_and_exit_codes():
    r = run([cell(verdict="pass"), cell(verdict="xfail"), cell(verdict="xpass")])
    assert counts(r.cells)["xpass"] == 1 and counts(r.cells)["fail"] == 0
    assert exit_code(r) == 0
    assert exit_code(r, strict=True) == 1
    assert [c.verdict for c in unexpected_failures(r, strict=True)] == ["xpass"]
    r.cells.append(cell(verdict="fail"))
    assert exit_code(r) == 1
    assert [c.verdict for c in unexpected_failures(r)] == ["fail"]
    assert exit_code(run([cell(verdict="unsupported"), cell(verdict="skipped")]), True) == 0


def test_broker_lookup_and_peer_versions():
    r = full_run()
    assert r.broker("rabbitmq")["version"] == "3.10.8"
    assert r.broker("nope") == {}
    assert r.peer_versions()["js"] == "3.0.3"


def test_command_list_is_joined():
    r = RunResult.from_json({"version": 1, "cells": [], "command": ["interop", "run"]})
    assert r.command == "interop run"


def test_selection_round_trips_and_is_checked(tmp_path):
    path = tmp_path / "results.json"
    r = run([cell()])
    assert "selection" not in r.to_json()  # older readers see the shape they know
    r.selection = {"pairs": "cover", "peers": ["js", "python"], "shard": "1/2"}
    r.save(path)
    assert load(path).selection == r.selection
    data = json.loads(path.read_text())
    data["selection"] = ["cover"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="'selection' must be an object"):
        load(path)
