"""The js toolchain: npm runs only when node_modules does not match the lock file.

Most tests point the module at a copy of peers/js and replace ``npm ci`` by a
fake that lays out node_modules, so the install logic is tested without the
registry; one test uses the real peer folder and the real npm (when present).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness import resources
from harness.env import require
from harness.toolchains import js
from tests.toolchains.concurrency import build_concurrently

REAL_DIR = resources.peer_dir("js")


@pytest.fixture
def peer_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of peers/js without node_modules, with the module pointed at it."""
    d = tmp_path / "js"
    d.mkdir()
    for name in ("peer.js", "package.json", "package-lock.json"):
        shutil.copy(REAL_DIR / name, d / name)
    monkeypatch.setattr(js, "PEER_DIR", d)
    return d


class FakeNpm:
    """Stands in for subprocess.run of ``npm ci``: records calls, lays out node_modules."""

    def __init__(self, peer_dir: Path, returncode: int = 0, stderr: str = "") -> None:
        self.peer_dir = peer_dir
        self.returncode = returncode
        self.stderr = stderr
        self.calls: list[list[str]] = []
        self.real_run = subprocess.run

    def __call__(self, argv: list[str], *args: Any, **kwargs: Any) -> Any:
        if argv[:2] != ["npm", "ci"]:
            return self.real_run(argv, *args, **kwargs)
        self.calls.append(list(argv))
        assert kwargs.get("cwd") == self.peer_dir
        if self.returncode == 0:
            rhea = self.peer_dir / "node_modules" / "rhea"
            shutil.rmtree(self.peer_dir / "node_modules", ignore_errors=True)
            rhea.mkdir(parents=True)
            (rhea / "package.json").write_text(json.dumps({"name": "rhea", "version": "3.9.9"}))
        return subprocess.CompletedProcess(argv, self.returncode, "", self.stderr)


def _node_or_skip() -> None:
    if shutil.which("node") is None:
        require("node not found on PATH (install Node.js and npm: apt-get install nodejs npm)")


def test_first_build_runs_npm_ci_and_writes_the_stamp(
    peer_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _node_or_skip()
    fake = FakeNpm(peer_copy)
    monkeypatch.setattr(js.subprocess, "run", fake)
    argv = js.build(tmp_path / "cache")
    assert argv == ["node", str(peer_copy / "peer.js")]
    assert fake.calls == [["npm", "ci", "--no-audit", "--no-fund"]]
    stamp = (peer_copy / "node_modules" / js.STAMP_NAME).read_text().strip()
    assert len(stamp) == 64
    assert (tmp_path / "cache" / "js" / ".npm.lock").exists()


def test_second_build_does_not_rerun_npm(
    peer_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _node_or_skip()
    fake = FakeNpm(peer_copy)
    monkeypatch.setattr(js.subprocess, "run", fake)
    js.build(tmp_path / "cache")
    stamp = peer_copy / "node_modules" / js.STAMP_NAME
    before = stamp.read_text()
    t0 = time.monotonic()
    js.build(tmp_path / "cache")
    assert time.monotonic() - t0 < 1.0
    assert len(fake.calls) == 1
    assert stamp.read_text() == before


def test_a_changed_lock_file_reinstalls(
    peer_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _node_or_skip()
    fake = FakeNpm(peer_copy)
    monkeypatch.setattr(js.subprocess, "run", fake)
    js.build(tmp_path / "cache")
    lock = peer_copy / "package-lock.json"
    lock.write_text(
        lock.read_text().replace('"lockfileVersion"', '"_changed": 1, "lockfileVersion"')
    )
    js.build(tmp_path / "cache")
    assert len(fake.calls) == 2


def test_node_modules_without_a_stamp_is_reinstalled(
    peer_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hand-made `npm install` leaves no stamp: build cannot know its lock, so it runs npm ci."""
    _node_or_skip()
    (peer_copy / "node_modules" / "rhea").mkdir(parents=True)
    (peer_copy / "node_modules" / "rhea" / "package.json").write_text('{"version": "3.0.0"}')
    fake = FakeNpm(peer_copy)
    monkeypatch.setattr(js.subprocess, "run", fake)
    js.build(tmp_path / "cache")
    assert len(fake.calls) == 1


def test_npm_failure_is_one_line(
    peer_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _node_or_skip()
    err = "npm warn something\nnpm error code E404\nnpm error 404 Not Found - GET rhea\n"
    monkeypatch.setattr(js.subprocess, "run", FakeNpm(peer_copy, returncode=1, stderr=err))
    with pytest.raises(RuntimeError) as info:
        js.build(tmp_path / "cache")
    message = str(info.value)
    assert "\n" not in message
    assert "npm error code E404" in message
    assert not (peer_copy / "node_modules" / js.STAMP_NAME).exists()


def test_concurrent_builds_run_npm_once(
    peer_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _node_or_skip()
    fake = FakeNpm(peer_copy)

    def slow(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        if argv[:2] == ["npm", "ci"]:
            time.sleep(0.3)
        return fake(argv, *args, **kwargs)

    monkeypatch.setattr(js.subprocess, "run", slow)
    build_concurrently(lambda: js.build(tmp_path / "cache"), timeout=30)
    assert len(fake.calls) == 1


def test_unavailable_without_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = js.unavailable()
    assert reason is not None
    assert "\n" not in reason
    assert "node" in reason
    with pytest.raises(RuntimeError, match="node"):
        js.build(tmp_path / "cache")


def test_unavailable_with_an_old_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "node"
    fake.write_text("#!/bin/sh\necho v12.22.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = js.unavailable()
    assert reason is not None and "too old" in reason and "v12.22.0" in reason


def test_unavailable_without_npm_when_not_installed(
    peer_copy: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    node = shutil.which("node")
    if node is None:
        require("node not found on PATH (install Node.js and npm: apt-get install nodejs npm)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "node").symlink_to(node)
    monkeypatch.setenv("PATH", str(bin_dir))
    reason = js.unavailable()
    assert reason is not None and "npm" in reason


def test_real_build_and_version(tmp_path: Path) -> None:
    """The real peer folder: installs rhea if needed (needs the registry once), then is cached."""
    reason = js.unavailable()
    if reason:
        require(f"js peer unavailable: {reason}")
    argv = js.build(tmp_path / "cache")
    assert argv == ["node", str(js.PEER_DIR / "peer.js")]  # a copy in the cache, never the package
    t0 = time.monotonic()
    assert js.build(tmp_path / "cache") == argv
    assert time.monotonic() - t0 < 1.0
    v = js.version()
    assert v.startswith("rhea 3.") and ", node v" in v


def test_an_install_announces_itself_once_with_its_time(
    peer_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The first run's `npm ci` says so on stderr; a run that finds node_modules says nothing."""
    _node_or_skip()
    monkeypatch.setattr(js.subprocess, "run", FakeNpm(peer_copy))
    js.build(tmp_path / "cache")
    err = capsys.readouterr().err
    assert re.fullmatch(
        rf"interop: installed the js peer's packages \(npm ci in {re.escape(str(peer_copy))}\)"
        r" in \d+\.\d s; first run, kept until package-lock\.json changes\n",
        err,
    ), err
    js.build(tmp_path / "cache")
    assert capsys.readouterr().err == ""


def test_a_failed_install_announces_nothing(
    peer_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _node_or_skip()
    monkeypatch.setattr(js.subprocess, "run", FakeNpm(peer_copy, returncode=1, stderr="npm error"))
    with pytest.raises(RuntimeError):
        js.build(tmp_path / "cache")
    assert "installed" not in capsys.readouterr().err
