"""The public API: ``harness.__all__`` names what downstream code may import, and it all resolves.

Why: a downstream conftest or script must not reach into internal modules;
the README's own example imports only from ``harness``, and this test runs it.
"""

from __future__ import annotations

import re
import subprocess
import sys

import harness
from harness.env import ROOT


def test_every_public_name_resolves():
    assert harness.__all__, "the facade names nothing"
    for name in harness.__all__:
        assert getattr(harness, name) is not None, name


def test_star_import_gives_exactly_the_public_names():
    ns: dict = {}
    exec("from harness import *", ns)
    assert sorted(k for k in ns if not k.startswith("__")) == sorted(harness.__all__)


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use it from your own project", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_imports_only_from_the_facade():
    code = _readme_example()
    imports = re.findall(r"^\s*from (\S+) import|^\s*import (\S+)", code, re.M)
    modules = {a or b for a, b in imports}
    assert modules <= {"harness", "pathlib"}, modules


def test_readme_example_runs(tmp_path):
    script = tmp_path / "run_hello.py"
    script.write_text(_readme_example())
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "hello-world" in out.stdout and "pass" in out.stdout
    assert (tmp_path / "interop-out").is_dir()
