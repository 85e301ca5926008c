"""Several workers building the same peer at once, as pytest-xdist workers and matrix
threads do on a first run: the toolchains' build-once lock is what these tests check."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def build_concurrently(build: Callable[[], T], timeout: float, workers: int = 3) -> list[T]:
    """Run ``build`` on ``workers`` threads at once; every result, none of them failed."""
    results: list[T] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(build())
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not errors
    return results
