"""Fault plans: rules made fresh per cell, described in one line, and the expectations they carry.

Why: scenario checks ask the plan what it allows (who loses a connection,
whether duplicates may come) instead of branching on its name; a plan whose
expectations are wrong would pass or fail cells for the wrong reason.
"""

from __future__ import annotations

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
