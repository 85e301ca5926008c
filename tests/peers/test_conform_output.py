"""harness.commands.conform_output: the contract's output rules on runs built by hand."""

from __future__ import annotations

from harness.commands.conform_output import Run, output_problem, shown


def _run(*lines: dict, bad: tuple[str, ...] = ()) -> Run:
    return Run(argv=["peer"], code=0, lines=list(lines), bad=list(bad))


RESULT = {"kind": "result", "role": "send", "ok": True, "options": {}}


def test_a_good_run_has_no_problem() -> None:
    assert output_problem(_run({"kind": "event", "name": "sent"}, RESULT), "send") is None


def test_each_rule_names_what_broke_it() -> None:
    cases = [
        (_run(RESULT, bad=("hello",)), "send", "non-JSON on stdout: 'hello'"),
        (_run({"kind": "log"}, RESULT), "send", "a line without a known kind"),
        (_run({"kind": "event", "name": "bogus"}, RESULT), "send", "event 'bogus' is not in"),
        (_run({"kind": "event", "name": "sent"}), "send", "0 result lines"),
        (_run(RESULT, RESULT), "send", "2 result lines"),
        (_run(RESULT, {"kind": "event", "name": "sent"}), "send", "the result is not the last"),
        (_run(RESULT), "receive", "result without role 'receive'"),
        (_run({**RESULT, "options": None}), "send", "the result has no options object"),
    ]
    for run, role, start in cases:
        problem = output_problem(run, role)
        assert problem is not None and start in problem, (role, problem)


def test_shown_is_one_short_line() -> None:
    assert shown("a\n  b") == "'a b'"
    assert shown("x" * 200, 10) == repr("x" * 10 + "...")
