"""A proton Container without TLS contexts, for the harness's own probes.

Why: proton builds a client and a server SSL context in every Container
(OpenSSL reads its configuration and CA store), about 40 ms of CPU at each
probe of each broker start, as much as the probe's own work; the harness
speaks plain amqp:// only (url.py refuses amqps).
"""

from __future__ import annotations

import threading

import proton._reactor as _reactor
from proton import SSLUnavailable
from proton.reactor import Container


class _NoTLS:
    """Stands in for proton's SSL configuration: "unavailable", so a Container makes none."""

    def __init__(self) -> None:
        raise SSLUnavailable("plain amqp: no TLS contexts needed")


_NO_TLS_SWAP = threading.Lock()


def plain_container() -> Container:
    """A Container to hand to a BlockingConnection.

    The swap of proton's name is process-wide, so it is made under a lock and
    undone at once.
    """
    with _NO_TLS_SWAP:
        saved = _reactor.SSLConfig
        _reactor.SSLConfig = _NoTLS
        try:
            return Container()
        finally:
            _reactor.SSLConfig = saved
