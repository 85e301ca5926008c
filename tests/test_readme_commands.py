"""scripts/readme_commands.py: the README's two commands, as CI and the fresh-machine check run them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "readme_commands.py"


def _load():
    spec = importlib.util.spec_from_file_location("readme_commands", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rc = _load()


def _readme(block: str) -> str:
    return (
        f"# x\n\n## Two commands\n\ntext\n\n```sh\n{block}```\n\n## Next\n\n```sh\nnot this\n```\n"
    )


def test_the_readme_has_exactly_the_two_commands() -> None:
    cmds = rc.commands((ROOT / "README.md").read_text())
    assert sorted(cmds) == ["main", "test"]
    assert cmds["main"].endswith("interop run")
    assert cmds["test"].endswith(
        " -n 4 --broker embedded,rabbitmq,container:rabbitmq-4.0,container:rabbitmq-4.3,"
        "artemis,container:artemis-2.56"
    )
    assert cmds["test"].split(" && ")[-1].split()[:3] == [".venv/bin/python", "-m", "pytest"]


@pytest.mark.parametrize("name", ["main", "test"])
def test_each_command_sets_up_its_own_venv(name: str) -> None:
    """A distribution's python3 refuses `pip install` outside a venv (PEP 668)."""
    cmd = rc.commands((ROOT / "README.md").read_text())[name]
    setup, run = rc.split_setup(cmd)
    assert setup.startswith("python3 -m venv .venv && ")
    assert ".venv/bin/python -m pip install -e " in setup
    assert run.startswith(".venv/bin/")
    assert "\n" not in cmd


def test_the_script_prints_the_exact_command() -> None:
    want = rc.commands((ROOT / "README.md").read_text())
    for name in ("main", "test"):
        out = subprocess.run(
            [sys.executable, str(SCRIPT), name], capture_output=True, text=True, check=True
        ).stdout
        assert out == want[name] + "\n"
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "test", "--run"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith(".venv/bin/python -m pytest ")


def test_a_third_command_is_refused() -> None:
    text = _readme("# the main job\nmain\n\n# the tests\ntest\n\n# more\nthird\n")
    with pytest.raises(rc.ReadmeError, match="a command under no known comment: 'third'"):
        rc.commands(text)


def test_a_missing_command_is_refused() -> None:
    with pytest.raises(rc.ReadmeError, match="no command under a comment starting '# the tests'"):
        rc.commands(_readme("# the main job: all\nmain\n"))


def test_two_lines_under_one_comment_are_refused() -> None:
    with pytest.raises(rc.ReadmeError, match="a command under no known comment: 'second'"):
        rc.commands(_readme("# the main job\nmain\nsecond\n# the tests\ntest\n"))


def test_a_continued_line_is_refused() -> None:
    with pytest.raises(rc.ReadmeError, match="spans several lines"):
        rc.commands(_readme("# the main job\nmain \\\n  more\n# the tests\ntest\n"))


def test_only_the_two_commands_section_counts() -> None:
    assert rc.commands(_readme("# the main job\nm\n# the tests\nt\n")) == {"main": "m", "test": "t"}
    with pytest.raises(rc.ReadmeError, match="no '## Two commands' section"):
        rc.commands("# x\n```sh\n# the main job\nm\n```\n")


def test_a_broken_readme_is_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "README.md"
    bad.write_text(_readme("# the main job\nmain\n"))
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "main", "--readme", str(bad)], capture_output=True, text=True
    )
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and "no command under a comment" in r.stderr
