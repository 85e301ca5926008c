"""proton's Container without TLS contexts, for processes that only speak plain amqp://.

Why: proton's Container builds a client and a server SSL context when it is
made (OpenSSL reads its configuration and CA store), about 40 ms of CPU, as
much as importing proton itself, at every start of a peer or of the embedded
broker; a plain amqp:// endpoint never uses them. An amqps:// URL keeps them
(without them proton would refuse it with "SSL libraries not found").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from proton import SSLUnavailable
from proton.reactor import Container


class _NoTLS:
    """Stands in for proton's SSL configuration: "unavailable", so the Container makes none."""

    def __init__(self) -> None:
        raise SSLUnavailable("plain amqp: no TLS contexts needed")


def make_container(handler: Any, url: str) -> Container:
    """A reactor for ``handler``, without TLS contexts unless ``url`` asks for amqps."""
    if urlsplit(url if "://" in url else "amqp://" + url).scheme == "amqps":
        return Container(handler)
    import proton._reactor as reactor  # the one name Container looks its SSL config up by

    saved = reactor.SSLConfig
    reactor.SSLConfig = _NoTLS
    try:
        return Container(handler)
    finally:
        reactor.SSLConfig = saved
