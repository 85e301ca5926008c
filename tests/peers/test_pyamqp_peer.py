"""The pyamqp reference peer (azure-servicebus's pure-Python AMQP stack) against the contract.

The shared tests of a connect-only peer (tests/peers/connecting.py) run on it,
plus its installation: the pinned azure-servicebus in a virtual environment of
its own in the cache. Skipped (failed in CI) when it cannot be installed.
"""

from __future__ import annotations

import subprocess

import pytest

from harness.env import cache_dir, require
from harness.toolchains import pyamqp
from tests.peers.connecting import *  # noqa: F403  the shared tests, run on this peer

#: the version the peer is written and tested against (a private module: pin and test the pin)
PINNED = "7.15.0"


@pytest.fixture(scope="module")
def peer() -> list[str]:
    reason = pyamqp.unavailable()
    if reason:
        require(f"pyamqp peer unavailable: {reason}")
    try:
        return pyamqp.build(cache_dir() / "peers")
    except RuntimeError as e:
        require(f"pyamqp peer build failed: {e}")
        raise


@pytest.fixture
def unreported() -> list[str]:
    return []  # the peer tracks credit itself, so it reports sendable


def test_the_pin_is_installed_in_its_own_environment(peer: list[str]) -> None:
    assert pyamqp.pinned() == PINNED
    assert peer[0].startswith(str(cache_dir())), peer
    proc = subprocess.run(
        [peer[0], "-c", "import importlib.metadata as m; print(m.version('azure-servicebus'))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout.strip() == PINNED
    assert pyamqp.version().startswith(f"azure-servicebus {PINNED} (_pyamqp)")
    assert pyamqp.build(cache_dir() / "peers") == peer  # the second time: nothing to do
