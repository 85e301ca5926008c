"""scripts/fresh_machine.py: how it reads the test command's output (the container part runs in CI)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from harness import images

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fresh_machine.py"


def _load():
    spec = importlib.util.spec_from_file_location("fresh_machine", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


fm = _load()

OUTPUT = """\
........s.....
=========================== short test summary info ============================
SKIPPED [13] tests/peers/test_cpp_peer.py:83: C++ peer unavailable: C++ compiler 'g++' not found on PATH (install g++)
SKIPPED [1] harness/env.py:28: no Docker engine: docker is not installed (apt-get install docker.io)
FAILED tests/test_x.py::test_y - AssertionError
================= 1 failed, 600 passed, 14 skipped, 1 xfailed in 146.20s (0:02:26) =================
"""


def test_the_skip_lines_are_read_from_the_summary() -> None:
    skips, problems = fm._skips(OUTPUT.splitlines())
    assert problems == []
    assert [s.split("]")[0] for s in skips] == ["SKIPPED [13", "SKIPPED [1"]


def test_a_skip_reason_on_several_lines_is_a_problem() -> None:
    lines = OUTPUT.splitlines()
    lines.insert(3, "  and a second line of the reason")
    _, problems = fm._skips(lines)
    assert len(problems) == 1 and "several lines" in problems[0]


def test_a_skip_without_a_reason_is_a_problem() -> None:
    lines = OUTPUT.splitlines()
    lines.insert(2, "SKIPPED [2] tests/test_z.py:5: ")
    _, problems = fm._skips(lines)
    assert problems == ["a skip without a reason: SKIPPED [2] tests/test_z.py:5: "]


def test_the_closing_counts_are_not_an_n_passed_line() -> None:
    """A CI log reads pytest's "N passed" line: the check's own summary must not print one."""
    got = fm._closing(OUTPUT.splitlines())
    assert got == "failed=1 passed=600 skipped=14 xfailed=1"
    assert not fm.CLOSING.match(got)


def test_the_fresh_machine_image_is_a_bare_bookworm_with_python() -> None:
    r = images.get_recipe(fm.RECIPE)
    assert r.suite == "bookworm"
    assert set(r.packages) == {
        "python3",
        "python3-venv",
        "python3-pip",
        "python3-dev",
        "gcc",
        "ca-certificates",
        "git",
    }
    assert "USER user" in r.changes()  # a laptop's user, not root
