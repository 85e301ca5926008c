"""The package as a user gets it: a wheel in a clean venv, run from a folder of their own.

Users do not clone the suite: they ``pip install amqp-interop`` into their own
project and run ``interop run`` or pytest there. The slow test here builds the
wheel from this tree (a copy of it, so no build/ folder lands in the clone),
installs it into a fresh venv (no system site-packages: python-qpid-proton
comes from the registry, or pip's cache), makes the venv read-only, and from
an unrelated temporary folder runs a matrix, the downstream example project's
pytest (examples/downstream), and, where g++ and node are present, the C++
and rhea peers too: they build into the run's cache folder, never into the
package. The venv is compared file by file afterwards (as root, permissions
alone would not stop a write). It prints its figures (wheel size, install to
first passing matrix, cache layout) for the issue's closing note.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from harness.env import ROOT, require

PYTHON_SELECTION = [
    "--peers",
    "python",
    "--scenario",
    "hello-world,request-response,at-least-once",
    "--fault",
    "none,cut1",
]
#: what a clone has that a wheel must not be built from
JUNK = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "node_modules", "*.egg-info", "build", ".cache", ".venv"
)


def test_every_harness_package_is_listed_for_the_wheel() -> None:
    """pyproject.toml lists packages by hand (scenarios/ and peers/ are mapped into harness)."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "harness").rglob("__init__.py")
    }
    missing = sorted(found - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"
    assert {"harness.scenarios", "harness._peers"} <= listed


def _clean_env(cache: Path, venv: Path) -> dict[str, str]:
    """The environment of a user's shell: nothing of this test session or this clone."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "INTEROP_", "PYTHON", "GITHUB_"))
        and k not in {"VIRTUAL_ENV", "COV_CORE_SOURCE"}
    }
    env["INTEROP_CACHE"] = str(cache)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """Run a step; fail with its command and the tail of its output when it fails."""
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        pytest.fail(f"exit {proc.returncode}: {' '.join(map(str, argv))}\n{tail}", pytrace=False)
    return proc.stdout + proc.stderr


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("harness", "scenarios", "peers"):
        shutil.copytree(ROOT / name, src / name, ignore=JUNK)
    dist = tmp / "dist"
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src], tmp, env)
    (wheel,) = dist.glob("amqp_interop-*.whl")
    return wheel


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file's size and mtime, except pytest's own assertion-rewrite caches.

    pytest rewrites the modules of a plugin's distribution and caches them as
    ``__pycache__/*-pytest-X.Y.pyc`` where it may write (as root: anywhere);
    where it may not, it skips the cache. That is pytest's, not the harness's.
    """
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in root.rglob("*")
        if not p.is_dir() and "-pytest-" not in p.name
    }


def _set_writable(root: Path, writable: bool) -> None:
    write = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for p in [root, *root.rglob("*")]:
        if p.is_symlink():
            continue
        mode = p.stat().st_mode
        p.chmod(mode | stat.S_IWUSR if writable else mode & ~write)


def _cells(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["cells"]


def _all_pass(out: Path, at_least: int) -> list[dict]:
    cells = _cells(out)
    bad = [f"{c['id']}: {c['verdict']} {c['reason']}" for c in cells if c["verdict"] != "pass"]
    assert not bad, "\n".join(bad)
    assert len(cells) >= at_least, [c["id"] for c in cells]
    return cells


def _compiled_peers_unavailable() -> str | None:
    from harness.toolchains import cpp, js

    reasons = [f"{m.NAME}: {r}" for m in (cpp, js) if (r := m.unavailable())]
    return "; ".join(reasons) or None


def _layout(cache: Path) -> str:
    lines = []
    for p in sorted(cache.rglob("*")):
        rel = p.relative_to(cache)
        if len(rel.parts) <= 4 and "node_modules" not in rel.parts[:-1]:
            lines.append(f"  {rel}{'/' if p.is_dir() else ''}")
    return "\n".join(lines)


@pytest.mark.slow
def test_wheel_in_a_clean_venv_runs_the_matrix_and_a_downstream_project(tmp_path: Path) -> None:
    try:
        import ensurepip  # noqa: F401  (Debian splits it out: python3-venv)
    except ImportError:
        require("Python's venv/ensurepip is missing (install python3-venv)")
    started = time.monotonic()
    wheel = _build_wheel(tmp_path)
    built = time.monotonic()
    venv, cache, work = tmp_path / "venv", tmp_path / "cache", tmp_path / "elsewhere"
    work.mkdir()
    env = _clean_env(cache, venv)
    _run([sys.executable, "-m", "venv", venv], work, env)
    py, interop = venv / "bin" / "python", venv / "bin" / "interop"
    _run([py, "-m", "pip", "install", "-q", "pytest>=8"], work, env)  # the downstream's other need

    t_install = time.monotonic()
    _run([py, "-m", "pip", "install", "-q", wheel], work, env)
    installed = time.monotonic()
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "harness" / "_peers" / "CONTRACT.md").is_file()
    assert not (site / "scenarios").exists() and not (site / "peers").exists()
    before = _snapshot(venv)
    _set_writable(venv, False)
    try:
        summary = tmp_path / "summary.md"
        run_env = dict(env, GITHUB_STEP_SUMMARY=str(summary))
        _run([interop, "run", *PYTHON_SELECTION, "--out", work / "python"], work, run_env)
        first_matrix = time.monotonic()
        _all_pass(work / "python", 4)
        assert "# Interop matrix" in summary.read_text()
        assert "interop 0.1" in _run([interop, "--version"], work, env)

        downstream = work / "downstream"
        shutil.copytree(ROOT / "examples" / "downstream", downstream, ignore=JUNK)
        pytest_argv = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        out = _run(
            [*pytest_argv, "--peers", "python", "--scenario", "hello-world,request-response"],
            downstream,
            env,
        )
        assert "3 passed" in out, out  # hello-world, request-response and its tutorial-pure plan
        mine = f"mine={interop} peer python"  # an external program through --peer NAME=COMMAND
        out = _run(
            [*pytest_argv, "--peer", mine, "--peers", "python,mine", "--scenario", "hello-world"],
            downstream,
            env,
        )
        assert "2 passed" in out, out

        absent = _compiled_peers_unavailable()
        if not absent:
            t_compiled = time.monotonic()
            selection = ["--peers", "python,cpp,js", *PYTHON_SELECTION[2:]]
            _run([interop, "run", *selection, "--out", work / "compiled"], work, env)
            compiled = time.monotonic() - t_compiled
            cells = _all_pass(work / "compiled", 20)
            assert {"cpp", "js"} <= {p for c in cells for p in c["roles"].values()}
            assert list((cache / "peers" / "cpp").glob("*/peer"))
            assert list((cache / "peers" / "js").glob("*/node_modules/rhea/package.json"))
    finally:
        _set_writable(venv, True)
    after = _snapshot(venv)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"the installed package was written: {changed[:10]}"
    print(
        f"\nwheel {wheel.name}: {wheel.stat().st_size / 1024:.0f} KiB, built in {built - started:.1f} s"
        f"\npip install of the wheel: {installed - t_install:.1f} s; to the first passing matrix: "
        f"{first_matrix - t_install:.1f} s"
        + ("" if absent else f"\npython,cpp,js matrix (builds included): {compiled:.1f} s")
        + f"\ncache {cache}:\n{_layout(cache)}"
    )
    if absent:
        require(f"the C++/rhea part of the wheel check needs what is missing here: {absent}")
