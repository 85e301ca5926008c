"""The suite catches broken peers, and names the rule each one breaks.

Each variant in peers/python/broken.py breaks one rule; it plays one role of
a real cell against the embedded broker while the reference Python peer
plays the other, and the cell must fail with that rule's id.
"""

from __future__ import annotations

import sys

import harness.scenarios as scenarios
import pytest

from harness import resources
from harness.cells import Cell
from harness.matrix.results import FAIL
from harness.peers import Implementation, PeerRegistry
from harness.pipeline import RunOptions, run_cell

BROKEN = resources.peer_file("python", "broken.py")


def _cell(scenario: str, fault: str, roles: dict[str, str], broker: str = "embedded") -> Cell:
    sc = scenarios.select([scenario])[0]
    return Cell(sc, sc.fault(fault), tuple(roles.items()), broker)


def _registry(name: str, which: str, role: str) -> PeerRegistry:
    impl = Implementation(
        name, roles=frozenset({role}), command=[sys.executable, str(BROKEN), which]
    )
    return PeerRegistry([impl])


CASES = [
    # (broken variant, its role, scenario, fault, roles, count, rule expected)
    (
        "send-before-credit",
        "send",
        "at-least-once",
        "none",
        {"sender": "broken", "receiver": "python"},
        5,
        "credit",
    ),
    (
        "ignore-dynamic",
        "request",
        "request-response",
        "none",
        {"client": "broken", "server": "python"},
        None,
        "reply-to-dynamic",
    ),
    (
        "no-resend",
        "send",
        "at-least-once",
        "cut1",
        {"sender": "broken", "receiver": "python"},
        200,
        "settled-or-resent",
    ),
    ("no-detach", "hello", "hello-world", "none", {"hello": "broken"}, None, "detach-before-close"),
]


@pytest.mark.parametrize(
    "which,role,scenario,fault,roles,count,rule", CASES, ids=[c[0] for c in CASES]
)
def test_broken_peer_fails_naming_its_rule(
    which, role, scenario, fault, roles, count, rule, embedded_broker, tmp_path
):
    registry = _registry("broken", which, role)
    cell = _cell(scenario, fault, roles)
    opts = RunOptions(out_dir=tmp_path, count=count, timeout=12.0)
    result = run_cell(cell, embedded_broker, registry, opts)
    assert result.verdict == FAIL, result
    failures = (tmp_path / result.artifacts / "verdict.json").read_text()
    assert f'"rule": "{rule}"' in failures, failures
    assert rule in result.reason or rule in failures


def test_reference_peer_passes_the_same_cells(embedded_broker, tmp_path):
    """The control: the same cells pass with the reference peer in every role."""
    for scenario, fault in [("at-least-once", "cut1"), ("hello-world", "none")]:
        sc = scenarios.select([scenario])[0]
        roles = tuple((r.label, "python") for r in sc.roles)
        cell = Cell(sc, sc.fault(fault), roles, "embedded")
        result = run_cell(
            cell, embedded_broker, PeerRegistry(), RunOptions(out_dir=tmp_path, count=200)
        )
        assert result.verdict == "pass", result.reason
