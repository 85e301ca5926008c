"""The selection: ``--pairs`` checked in one place, and the record results.json keeps of it.

Why: ``interop run`` and the pytest plugin both resolve their options here,
so a bad ``--pairs`` must be one line from either; and ``compare``/``merge``
can only tell a cell that went away from one a run never asked for if the
run recorded what it asked for.
"""

from __future__ import annotations

import harness.scenarios as scenarios
import pytest

from harness.matrix.results import CellResult
from harness.matrix.scope import selects
from harness.selection import Selection, SelectionError, record, resolve, shard

PEERS = "python,cpp,js"


def _ids(sel: Selection) -> list[str]:
    return [c.id for c in resolve(sel).cells]


def test_every_pair_mode_resolves_and_none_outgrows_all() -> None:
    counts = {}
    for mode in ("all", "with:js", "self"):
        counts[mode] = len(_ids(Selection(peers=PEERS, pairs=mode)))
    # three peers that play every role: per scenario and fault plan, 9 pairs (all), 5 with js,
    # 3 with themselves, a ring of 3 (cover); one-role hello-world is 3 cells in every mode
    plans = sum(len(s.faults) for s in scenarios.select(None) if len(s.roles) == 2)
    assert counts == {"all": 9 * plans + 3, "with:js": 5 * plans + 1, "self": 3 * plans + 3}
    assert len(_ids(Selection(peers=PEERS, pairs="cover"))) == 3 * plans + 3
    assert _ids(Selection(peers=PEERS)) == _ids(Selection(peers=PEERS, pairs="all"))
    # a real broker defaults to a cover; peer to peer (direct) stays every pair
    url = "url:amqp://127.0.0.1:1"
    default = _ids(Selection(peers=PEERS, broker=url))
    covered = _ids(Selection(peers=PEERS, broker=url, pairs="cover"))
    assert [i for i in default if "-url:" in i] == [i for i in covered if "-url:" in i]
    direct_plans = len(scenarios.select(["direct"])[0].faults)  # who listens: either side
    assert len([i for i in default if i.startswith("direct-")]) == 9 * direct_plans


@pytest.mark.parametrize(
    "pairs, message",
    [
        ("every", "bad --pairs 'every' (known: all, with:IMPL, self, cover)"),
        ("with:", "bad --pairs 'with:' (known: all, with:IMPL, self, cover)"),
        ("with:go", "--pairs with:go: go is not among the selected peers (python, cpp, js)"),
        (
            "with:nosuch",
            "--pairs with:nosuch: nosuch is not among the selected peers (python, cpp, js)",
        ),
    ],
)
def test_bad_pairs_is_one_line(pairs: str, message: str) -> None:
    with pytest.raises(SelectionError) as e:
        resolve(Selection(peers=PEERS, pairs=pairs))
    assert str(e.value) == message


def test_record_holds_what_was_asked_for() -> None:
    sel = Selection(peers=PEERS, broker="embedded,url:amqp://127.0.0.1:1", fault="none")
    cells = resolve(sel).cells
    rec = record(sel, cells, "2/3")
    assert rec["pairs"] is None
    assert rec["modes"] == {"embedded": "all", "url:amqp://127.0.0.1:1": "cover", "": "all"}
    assert rec["peers"] == ["cpp", "js", "python"]
    assert rec["brokers"] == ["embedded", "url:amqp://127.0.0.1:1"]
    assert rec["scenarios"] == ["hello-world", "direct", "at-least-once", "request-response"]
    assert rec["faults"] == ["none"]
    assert rec["shard"] == "2/3" and rec["cells"] is None
    assert rec["cover"]["at-least-once"] == ["python->cpp", "cpp->js", "js->python"]
    assert "direct" not in rec["cover"]  # peer to peer is every pair by default


def _result(cell) -> CellResult:
    return CellResult(
        cell.id, cell.scenario.name, cell.fault.name, cell.broker, cell.role_map, "pass"
    )


def test_a_whole_record_selects_exactly_its_cells_in_every_mode() -> None:
    """The record, read back, picks the same cells out of the full product as the selection did."""
    brokers = "embedded,url:amqp://127.0.0.1:1"
    every = [_result(c) for c in resolve(Selection(peers=PEERS, broker=brokers, pairs="all")).cells]
    for mode in (None, "all", "with:cpp", "self", "cover"):
        for peers in (PEERS, "cpp,js"):
            sel = Selection(
                peers=peers, broker=brokers, pairs=mode, scenario="direct,at-least-once"
            )
            cells = resolve(sel).cells
            rec = record(sel, cells)
            chosen = {c.id for c in cells}
            assert {c.id for c in every if selects(rec, c)} == chosen, (mode, peers)


def test_a_shard_record_surely_selects_nothing_it_lacks() -> None:
    sel = Selection(peers=PEERS, scenario="hello-world")
    cells = resolve(sel).cells
    rec = record(sel, cells, "1/2")
    assert not any(selects(rec, _result(c)) for c in shard("2/2", cells))
