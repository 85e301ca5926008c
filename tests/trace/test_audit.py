"""The audit of checks: every step and invariant cites its basis; a broker is held only to the spec.

Why: a suite whose patterns encode one broker's habits gives wrong verdicts
on another, spec-compliant broker. The lint makes a citation part of writing
a step, refuses a broker step that rests on anything but the specification,
and the docs table (docs/checks.md) is generated from the same records.
"""

from __future__ import annotations

import subprocess
import sys

import harness.scenarios as scenarios
import pytest

from harness.env import ROOT
from harness.expect import expect, outcome
from harness.scenario import Role, Scenario
from harness.trace.audit import checks_table, lint
from harness.trace.basis import BROKER, context, spec, tutorial
from harness.trace.invariants import RULES
from harness.trace.patterns import Pattern, conn, either, frame, gt, never


def _scenario(*checks) -> Scenario:
    return Scenario("lint-me", "a scenario to lint", (Role("hello", "hello"),), checks=checks)


def test_every_shipped_step_and_invariant_cites_its_basis():
    assert lint(list(scenarios.all_scenarios().values())) == []
    assert all(inv.basis is not None for inv in RULES.values())


def test_a_broker_step_without_a_citation_fails_the_lint():
    p = Pattern(
        "hello",
        [
            frame("attach", src="hello").because(tutorial("helloworld.py", "attaches", "hello")),
            frame("flow", dst="hello", link_credit=gt(0)),  # holds the broker, cites nothing
        ],
    )
    problems = lint([_scenario(expect("uncited", p))], rules={})
    assert len(problems) == 1
    assert "lint-me / uncited step 2: no citation" in problems[0]
    assert "frame flow dst=hello link_credit=>0" in problems[0]


def test_a_broker_step_resting_on_the_tutorial_fails_the_lint():
    p = Pattern(
        "roundtrip",
        [
            frame("transfer", dst="hello").because(spec("3.3", BROKER)),
            frame("disposition", src=BROKER, state__type="accepted").because(
                tutorial("helloworld.py", "the broker accepts", BROKER)
            ),
        ],
    )
    [problem] = lint([_scenario(expect("habit", p))], rules={})
    assert "holds the broker to tutorial helloworld.py" in problem
    assert "needs the spec" in problem


def test_the_lint_sees_alternatives_never_windows_and_forbids():
    p = Pattern(
        "settled either way",
        [
            never(frame("transfer", src="hello")),  # no basis
            either(
                frame("transfer", dst="hello", settled=True).because(spec("3.3", BROKER)),
                frame("disposition", src="hello"),  # no basis
            ),
        ],
    )
    problems = lint([_scenario(expect("alts", p))], rules={})
    assert [p.split(":")[0] for p in problems] == [
        "lint-me / alts step 1",
        "lint-me / alts step 2b",
    ]


def test_the_lint_checks_who_a_step_holds():
    p = Pattern(
        "wrong sides",
        [
            frame("attach", src="hello").because(spec("2.6.3", BROKER)),  # hello sent it
            frame("attach", dst="hello").because(spec("2.6.3", "hello")),  # hello received it
            conn("cut").because(spec("2.4.3", BROKER)),  # the harness cut it
            frame("open", src="hello").because(context("not a harness event")),
            frame("close", src="hello").because(spec("9.9", "hello", title="made up")),
        ],
    )
    problems = lint([_scenario(expect("sides", p))], rules={})
    assert len(problems) == 5
    assert "sent by hello but holds broker" in problems[0]
    assert "received by hello but holds hello" in problems[1]
    assert "a harness event cited as 2.4.3" in problems[2]
    assert "only harness events are context" in problems[3]
    assert "cites unknown section 9.9" in problems[4]


def test_an_outcome_without_a_basis_fails_the_lint():
    def counted(run):
        """Everything is counted."""
        return None

    [problem] = lint([_scenario(outcome("counted", counted))], rules={})
    assert "lint-me / counted: no citation" in problem
    assert lint([_scenario(outcome("counted", counted, spec("3.4", "hello")))], rules={}) == []


def test_spec_rejects_a_section_without_a_title():
    with pytest.raises(ValueError, match="unknown spec section '2.9.9'"):
        spec("2.9.9")


def test_the_docs_table_has_a_row_per_step_and_invariant():
    every = list(scenarios.all_scenarios().values())
    table = checks_table(every)
    for inv in RULES.values():
        assert f"| `{inv.id}` |" in table
    hello = scenarios.all_scenarios()["hello-world"]
    assert "AMQP 1.0 2.6.7 flow control | broker |" in table
    assert f"## {hello.name}" in table
    assert "| 2a | `(either) frame transfer dst=hello" in table
    assert "**none**" not in table


def test_the_committed_docs_table_is_up_to_date():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "checks_table.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
