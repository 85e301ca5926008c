"""The go-amqp (Azure) reference peer against the contract (peers/CONTRACT.md).

The shared tests of a connect-only peer (tests/peers/connecting.py) run on it,
plus the build: into the cache folder only, once per digest, with the go-amqp
version it linked reported by ``version()``. Skipped (failed in CI) without Go.
"""

from __future__ import annotations

import subprocess

import pytest

from harness.env import ROOT, cache_dir, require
from harness.toolchains import go
from tests.peers.connecting import *  # noqa: F403  the shared tests, run on this peer


@pytest.fixture(scope="module")
def peer() -> list[str]:
    reason = go.unavailable()
    if reason:
        require(f"go peer unavailable: {reason}")
    try:
        return go.build(cache_dir() / "peers")
    except RuntimeError as e:
        require(f"go peer build failed: {e}")
        raise


@pytest.fixture
def unreported() -> list[str]:
    return ["sendable"]  # go-amqp waits for credit inside its send call and never says so


def test_build_is_cached_and_leaves_the_repository_alone(peer: list[str]) -> None:
    assert go.build(cache_dir() / "peers") == peer
    assert peer[0].startswith(str(cache_dir()))
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--", "peers/go"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.stdout.strip() == "" or status.returncode != 0, status.stdout


def test_version_is_the_linked_module(peer: list[str]) -> None:
    text = go.version()
    assert text.startswith(f"go-amqp {go.pinned()}, go1."), text
    assert go.pinned() >= "v1.4.0"  # SendWithReceipt (accepted vs released), DynamicAddress


def test_missing_go_is_one_line_with_the_way_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GO", "/nonexistent/go")
    reason = go.unavailable()
    assert reason is not None and "install Go" in reason and "\n" not in reason


def test_too_old_go_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(go, "_go_version", lambda path: "go1.19.8")
    monkeypatch.setattr(go, "_go", lambda: "/usr/bin/go")
    reason = go.unavailable()
    assert reason is not None and "go1.19.8 is older than go" in reason
