"""The harness's probes make their Containers without TLS contexts, and leave proton as it was."""

from __future__ import annotations

import threading

import proton._reactor as reactor
from proton.reactor import Container

from harness.brokers.plain_container import plain_container


def test_no_tls_contexts_and_proton_restored() -> None:
    before = reactor.SSLConfig
    container = plain_container()
    assert container.ssl is None
    assert reactor.SSLConfig is before
    assert Container().ssl is not None, "a Container made after it still gets its TLS contexts"


def test_parallel_probes_each_get_a_plain_container() -> None:
    made: list[Container] = []
    threads = [threading.Thread(target=lambda: made.append(plain_container())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(made) == 8 and all(c.ssl is None for c in made)
    assert Container().ssl is not None
