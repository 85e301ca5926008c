"""Fixtures of the peer tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers.proc import Proc


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Processes started by a test; every one is killed (process group) at the end."""
    started: list[Proc] = []
    try:
        yield started
    finally:
        for p in started:
            p.kill()
            for stream in (p.popen.stdout, p.popen.stderr):
                if stream is not None:
                    stream.close()
