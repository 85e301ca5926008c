"""Shared fixtures for the harness's own tests.

The interop suite itself comes from the pytest plugin (harness/pytest_plugin.py,
registered by entry point); this file only holds what several test modules
of the harness need: a running embedded broker, started once per worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.brokers.embedded import EmbeddedBroker
from harness.env import cache_dir

# hypothesis keeps a cache of the constants it finds in the source under ./.hypothesis, that is
# in the clone, even with no example database; tests leave nothing outside tmp_path and the
# user's cache folder, so point it there (read when a property test first runs)
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(cache_dir() / "hypothesis"))


@pytest.fixture(scope="session")
def embedded_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A real embedded broker on 127.0.0.1 (port 0), shared by the tests of one worker.

    Its folder is under pytest's basetemp, so nothing of it is left in /tmp.
    """
    broker = EmbeddedBroker(tmp_path_factory.mktemp("embedded-broker"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
