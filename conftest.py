"""Shared fixtures for the harness's own tests.

The interop suite itself comes from the pytest plugin (harness/pytest_plugin.py,
registered by entry point); this file only holds what several test modules
of the harness need: a running embedded broker, started once per worker.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.brokers.embedded import EmbeddedBroker


@pytest.fixture(scope="session")
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """A real embedded broker on 127.0.0.1 (port 0), shared by the tests of one worker."""
    broker = EmbeddedBroker(Path(tempfile.mkdtemp(prefix="interop-test-broker-")))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
