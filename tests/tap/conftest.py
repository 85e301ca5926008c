"""Fixtures of the tap tests: upstream servers and taps, each closed when its test ends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.tap import Tap


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    """Fake upstream servers (tests.tap.test_proxy.Server) a test starts; closed afterwards."""
    made: list[Any] = []
    yield made
    for s in made:
        s.close()


@pytest.fixture
def taps() -> Iterator[list[Tap]]:
    """Taps a test starts; stopped afterwards, so no loop task or socket outlives it."""
    made: list[Tap] = []
    yield made
    for t in made:
        t.stop()
