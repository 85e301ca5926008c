"""Which cells a recorded selection holds, and how shards' records join.

Why: ``compare`` calls a cell gone only if the newer run selected it, and
``merge`` must know whether its shards make a whole selection; both read
these functions, so a wrong answer here hides a lost cell or invents one.
"""

from __future__ import annotations

from harness.matrix.scope import merge_records, selects
from tests.matrix.sample import cell

BASE = {
    "pairs": None,
    "modes": {"embedded": "all", "rabbitmq": "cover", "": "all"},
    "peers": ["cpp", "js", "python"],
    "brokers": ["embedded", "rabbitmq"],
    "scenarios": ["hello-world", "direct", "at-least-once"],
    "faults": None,
    "cells": None,
    "shard": None,
    "cover": {"at-least-once": ["python->cpp", "cpp->js", "js->python"]},
}


def test_each_dimension_of_a_record() -> None:
    assert selects(BASE, cell("at-least-once", ("js", "js"), "embedded"))
    assert selects(BASE, cell("direct", ("js", "cpp"), ""))
    assert selects(BASE, cell("at-least-once", ("js", "python"), "rabbitmq"))
    assert not selects(BASE, cell("at-least-once", ("js", "js"), "rabbitmq"))  # not in the cover
    assert not selects(BASE, cell("at-least-once", ("go", "js"), "embedded"))  # peer
    assert not selects(BASE, cell("request-response", ("js", "js"), "embedded"))  # scenario
    assert not selects(BASE, cell("hello-world", ("js",), "artemis"))  # broker
    narrow = {**BASE, "faults": ["cut3"]}
    assert not selects(narrow, cell("at-least-once", ("js", "js")))
    assert selects(narrow, cell("at-least-once", ("js", "js"), fault="cut3"))
    picked = {**BASE, "cells": ["hello-world-js-embedded"]}
    assert selects(picked, cell("hello-world", ("js",)))
    assert not selects(picked, cell("hello-world", ("cpp",)))
    assert selects(None, cell("hello-world", ("go",), "artemis"))  # no record: as before


def test_self_and_with_modes() -> None:
    own = {**BASE, "modes": {"embedded": "self"}}
    assert selects(own, cell("at-least-once", ("js", "js")))
    assert selects(own, cell("hello-world", ("js",)))
    assert not selects(own, cell("at-least-once", ("js", "cpp")))
    js = {**BASE, "modes": {"embedded": "with:js"}}
    assert selects(js, cell("at-least-once", ("cpp", "js")))
    assert selects(js, cell("at-least-once", ("js", "js")))
    assert not selects(js, cell("at-least-once", ("cpp", "python")))
    assert not selects(js, cell("hello-world", ("cpp",)))


def test_shards_of_one_selection_merge_into_it() -> None:
    parts = [{**BASE, "shard": f"{k}/3"} for k in (3, 1, 2)]
    assert merge_records(parts) == (BASE, [])
    partial, missing = merge_records(parts[:2])
    assert partial == {**BASE, "shard": "1,3/3"} and missing == ["2/3"]
    assert not selects(partial, cell("hello-world", ("js",)))
    # a partial merge merged with its missing shard is whole
    assert merge_records([partial, {**BASE, "shard": "2/3"}]) == (BASE, [])


def test_different_selections_merge_into_any_of() -> None:
    other = {**BASE, "peers": ["go"], "modes": {"embedded": "all"}}
    merged, missing = merge_records([BASE, other, BASE])
    assert merged == {"any_of": [BASE, other]} and missing == []
    assert selects(merged, cell("at-least-once", ("go", "go")))
    assert selects(merged, cell("at-least-once", ("js", "cpp")))
    assert merge_records([BASE, None]) == (None, [])
    assert merge_records([]) == (None, [])
