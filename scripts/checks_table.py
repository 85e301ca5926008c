#!/usr/bin/env python3
"""Write docs/checks.md: every invariant and scenario step with the spec section or tutorial
behaviour it rests on, and the side it holds to it.

    python3 scripts/checks_table.py           # write the file
    python3 scripts/checks_table.py --check   # exit 1 when the committed file is out of date

The table comes from the check records themselves (harness.trace.audit), so
it cannot drift from what the suite checks; tests/trace/test_audit.py runs
the --check half.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "checks.md"


def render() -> str:
    sys.path.insert(0, str(ROOT))
    os.environ.pop("INTEROP_SCENARIOS", None)  # the shipped scenarios only
    import harness.scenarios as scenarios

    from harness.trace.audit import checks_table

    return checks_table(list(scenarios.all_scenarios().values()))


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC.relative_to(ROOT)} is out of date: run python3 scripts/checks_table.py")
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
