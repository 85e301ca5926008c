#!/usr/bin/env python3
"""Print one of the README's two commands, exactly as the README shows it.

Why: CI (``.ci/run``) and the fresh-machine check (``scripts/fresh_machine.py``)
run the commands a user copies from the README; taking them from the README
rather than retyping them means a README that drifts is caught by CI.

Where: README.md, section ``## Two commands``, its first ``sh`` code block.
A command is the first non-comment line after a comment line that names it:
``# the main job...`` (``main``) and ``# the tests...`` (``test``). The block
must hold exactly these two commands, one line each.

Usage::

    scripts/readme_commands.py main|test            the whole command
    scripts/readme_commands.py main|test --setup    its set-up (all but the last ``&&`` step)
    scripts/readme_commands.py main|test --run      its last ``&&`` step (what it runs)

Standard library only: it runs before anything is installed. Exit 2 with one
line on stderr when the README does not have the two commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Two commands"
#: name -> how the comment line above the command starts
MARKERS = {"main": "# the main job", "test": "# the tests"}


class ReadmeError(Exception):
    """The README's "Two commands" section is not as expected; the message is one line."""


def _code_block(text: str) -> list[str]:
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == SECTION)
    except StopIteration:
        raise ReadmeError(f"no {SECTION!r} section") from None
    block: list[str] | None = None
    for line in lines[start + 1 :]:
        if block is None:
            if line.startswith("## "):
                break
            if line.strip() in ("```sh", "```shell", "```bash"):
                block = []
        elif line.strip() == "```":
            return block
        else:
            block.append(line)
    if block is None:
        raise ReadmeError(f"no ```sh code block in the {SECTION!r} section")
    raise ReadmeError(f"the code block of the {SECTION!r} section is not closed")


def commands(text: str) -> dict[str, str]:
    """``{"main": ..., "test": ...}`` from a README's text; ReadmeError unless exactly those two."""
    found: dict[str, str] = {}
    others: list[str] = []
    pending: str | None = None
    for line in _code_block(text):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            names = [n for n, m in MARKERS.items() if stripped.startswith(m)]
            pending = names[0] if names else None
            continue
        if stripped.endswith("\\"):
            raise ReadmeError(f"a command spans several lines: {stripped!r}")
        if pending is None:
            others.append(stripped)
        elif pending in found:
            raise ReadmeError(f"two {pending!r} commands")
        else:
            found[pending] = stripped
        pending = None
    if others:
        raise ReadmeError(f"a command under no known comment: {others[0]!r}")
    missing = [n for n in MARKERS if n not in found]
    if missing:
        want = " and ".join(repr(MARKERS[n]) for n in missing)
        raise ReadmeError(f"no command under a comment starting {want}")
    return found


def split_setup(command: str) -> tuple[str, str]:
    """``(set-up, run)``: the command's ``&&`` steps but the last, and the last."""
    steps = [s.strip() for s in command.split(" && ")]
    if len(steps) < 2:
        raise ReadmeError(f"no set-up step before the command: {command!r}")
    return " && ".join(steps[:-1]), steps[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="print one of README.md's two commands")
    parser.add_argument("name", choices=sorted(MARKERS))
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--setup", action="store_true", help="only its set-up steps")
    part.add_argument("--run", action="store_true", help="only its last step")
    parser.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        command = commands(args.readme.read_text())[args.name]
        if args.setup or args.run:
            setup, run = split_setup(command)
            command = setup if args.setup else run
    except (OSError, ReadmeError) as e:
        print(f"readme_commands: {args.readme}: {e}", file=sys.stderr)
        return 2
    print(command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
