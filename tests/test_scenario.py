"""Scenario declarations: plans that recast the roles (who listens in a direct scenario).

Why: the direct scenario's two halves (the receiver listens; the sender
listens) are one scenario with two plans. Every stage reads who listens from
``cell.scenario.roles``, so a plan's roles must reach the cell whole, keep the
labels checks and known failures name, and be refused when they cannot run.
"""

from __future__ import annotations

import pytest

from harness.cells import generate
from harness.fault_plans import NO_FAULTS, FaultPlan
from harness.peers import Implementation
from harness.scenario import Role, Scenario

SWAP = FaultPlan("swap", "the sender listens")
RECV_LISTENS = (
    Role("sender", "send"),
    Role("receiver", "receive", listen=True, needs=frozenset({"listen"})),
)
SEND_LISTENS = (
    Role("sender", "send", listen=True, needs=frozenset({"listen"})),
    Role("receiver", "receive"),
)


def _direct(**kw) -> Scenario:
    return Scenario(
        "dir",
        "no broker",
        topology="direct",
        roles=RECV_LISTENS,
        faults=(NO_FAULTS, SWAP),
        plan_roles=(("swap", SEND_LISTENS),),
        **kw,
    )


def test_for_plan_gives_the_plan_its_roles_and_keeps_the_rest() -> None:
    sc = _direct(count=7, timeout=9.0)
    swapped = sc.for_plan(SWAP)
    assert swapped.roles == SEND_LISTENS
    assert (swapped.name, swapped.count, swapped.timeout, swapped.checks) == (
        sc.name,
        sc.count,
        sc.timeout,
        sc.checks,
    )
    assert sc.for_plan(NO_FAULTS) is sc  # a plan without roles of its own changes nothing
    assert swapped.for_plan(SWAP).roles == SEND_LISTENS  # idempotent


@pytest.mark.parametrize(
    ("plan_roles", "faults", "words"),
    [
        ((("nosuch", SEND_LISTENS),), (NO_FAULTS, SWAP), "unknown plan 'nosuch'"),
        ((("swap", (Role("a", "send", listen=True), Role("b", "receive"))),), None, "keep roles"),
        ((("swap", (Role("sender", "send"), Role("receiver", "receive"))),), None, "listening"),
    ],
)
def test_plan_roles_that_cannot_run_are_refused(plan_roles, faults, words) -> None:
    with pytest.raises(ValueError, match=words):
        Scenario(
            "dir",
            "no broker",
            topology="direct",
            roles=RECV_LISTENS,
            faults=faults or (NO_FAULTS, SWAP),
            plan_roles=plan_roles,
        )


def test_cells_of_a_recasting_plan_pair_who_can_play_its_roles() -> None:
    # a listens, b only connects: under "none" only a listens as receiver; under "swap"
    # only a listens as sender, and the cell carries the swapped roles to the pipeline
    a = Implementation("a", command=["true"])
    b = Implementation("b", command=["true"], capabilities=frozenset({"reconnect"}))
    cells = generate([_direct()], [a, b], ["embedded"])
    by_plan = {p: [c for c in cells if c.fault.name == p] for p in ("none", "swap")}
    assert [c.id for c in by_plan["none"]] == ["dir-a->a", "dir-b->a"]
    assert [c.id for c in by_plan["swap"]] == ["dir-swap-a->a", "dir-swap-a->b"]
    for c in by_plan["swap"]:
        assert [r.label for r in c.scenario.roles if r.listen] == ["sender"]
    for c in by_plan["none"]:
        assert [r.label for r in c.scenario.roles if r.listen] == ["receiver"]
    assert [c.id for c in generate([_direct()], [a, b], [""], faults=["swap"])] == [
        "dir-swap-a->a",
        "dir-swap-a->b",
    ]
