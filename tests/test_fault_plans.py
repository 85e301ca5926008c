"""Fault plans: rules made fresh per cell, described in one line, and the expectations they carry.

Why: scenario checks ask the plan what it allows (who loses a connection,
whether duplicates may come) instead of branching on its name; a plan whose
expectations are wrong would pass or fail cells for the wrong reason.
"""

from __future__ import annotations

import itertools

import harness.scenarios as scenarios

from harness.fault_plans import NO_FAULTS, ArmedPlan, FaultPlan
from harness.wire.faults import CutAfter, CutBeforeSettle


def test_armed_plan_rules_per_label_and_description() -> None:
    a = CutAfter("transfer", 3, "sender")
    b = CutBeforeSettle(2, "receiver")
    plan = ArmedPlan(FaultPlan("mix"), {"sender": [a], "receiver": [b]})
    assert plan.for_label("sender") == [a]
    assert plan.for_label("nobody") == []
    assert plan.describe() == (
        "cut after transfer #3 from sender; cut before the disposition of delivery #2 from receiver"
    )
    assert NO_FAULTS.arm(10).describe() == "no faults"


def test_each_cell_gets_fresh_rules() -> None:
    plan = FaultPlan("cut", rules=lambda n: {"sender": [CutAfter("transfer", n // 2, "sender")]})
    one, two = plan.arm(10), plan.arm(10)
    assert one.for_label("sender")[0] is not two.for_label("sender")[0]
    assert one.for_label("sender")[0].k == 5


def test_expectations() -> None:
    assert not NO_FAULTS.injects and not NO_FAULTS.loses_connection("sender")
    cut = FaultPlan("c", cuts=frozenset({"sender"}))
    assert cut.injects and cut.loses_connection("sender") and not cut.loses_connection("receiver")
    restart = FaultPlan("r", restarts_broker=True)
    assert restart.loses_connection("sender") and restart.loses_connection("receiver")
    assert FaultPlan("slow", credit_delay_s=1.0).injects


def test_at_least_once_plans_say_what_their_rules_do() -> None:
    """Every plan that cuts a label has a rule on that label's tap, and the other way round."""
    [sc] = scenarios.select(["at-least-once"])
    for plan in sc.faults:
        armed = plan.arm(1000)
        cutting = {label for label, rules in armed.rules.items() if rules}
        if plan.restarts_broker or plan.credit_delay_s:
            continue
        assert cutting == set(plan.cuts), plan.name
        assert plan.duplicates_allowed == bool(plan.cuts), plan.name


def test_spread_cuts_take_turns_and_spread_evenly() -> None:
    from harness.fault_plans import spread_cuts

    rules = spread_cuts(100_000, 20, {"sender": "sender", "receiver": "broker"})
    assert [len(rules["sender"]), len(rules["receiver"])] == [10, 10]
    ks = sorted([(r.k, r.src) for rs in rules.values() for r in rs])
    assert ks[0] == (4761, "sender") and ks[1] == (9523, "broker") and ks[-1] == (95238, "broker")
    gaps = {b[0] - a[0] for a, b in itertools.pairwise(ks)}
    assert gaps <= {4761, 4762}  # even spacing
    assert all(r.name == "transfer" and not r.before for rs in rules.values() for r in rs)
    # more cuts than transfers: those on the same transfer merge; never a cut at 0
    small = spread_cuts(3, 20, {"sender": "sender"})
    assert sorted(r.k for r in small["sender"]) == [1, 2]


def test_spread_cuts_rejects_nonsense() -> None:
    import pytest

    from harness.fault_plans import spread_cuts

    for args in ((0, 5, {"s": "s"}), (10, -1, {"s": "s"}), (10, 5, {})):
        with pytest.raises(ValueError):
            spread_cuts(*args)


def test_the_long_plan_is_opt_in() -> None:
    from harness.scenarios.at_least_once import FAULTS, LONG, LONG_COUNT, LONG_CUTS

    assert LONG not in FAULTS  # never in the default matrix: minutes per cell
    assert "long" not in {f.name for f in FAULTS}
    armed = LONG.arm(LONG_COUNT)
    assert sum(len(r) for r in armed.rules.values()) == LONG_CUTS == 20
    assert LONG.loses_connection("sender") and LONG.loses_connection("receiver")
    assert LONG.duplicates_allowed


def test_the_long_plan_runs_only_when_named_and_brings_its_count() -> None:
    from harness.scenarios.at_least_once import LONG_COUNT, SCENARIO

    from harness.cells import generate
    from harness.peers import builtin

    python = [builtin()["python"]]
    default = {c.fault.name for c in generate([SCENARIO], python, ["embedded"])}
    assert "long" not in default and "none" in default
    named = generate([SCENARIO], python, ["embedded"], faults=["long"])
    assert [c.fault.name for c in named] == ["long"]
    assert SCENARIO.fault("long").count == LONG_COUNT and SCENARIO.fault("long").timeout


def test_interop_run_accepts_the_long_plan(tmp_path) -> None:
    from harness.selection import Selection, resolve

    cells = resolve(Selection(peers="python", fault="long", scenario="at-least-once")).cells
    assert [c.fault.name for c in cells] == ["long"]
