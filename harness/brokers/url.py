"""A broker the user already runs: ``url:amqp://[user:pass@]host:port``.

The harness neither starts nor stops it, but still probes it (an AMQP open
must come back) and records who answered.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from harness.brokers.base import Broker, BrokerError, Provider


def parse_amqp_url(url: str) -> tuple[str, int, str | None, str | None]:
    """``(host, port, user, password)``; ValueError with one line for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"bad URL {url!r}: {e}") from None
    if parts.scheme not in ("amqp", ""):
        raise ValueError(f"bad URL {url!r}: scheme must be amqp (amqps is not supported)")
    if not parts.hostname:
        raise ValueError(f"bad URL {url!r}: no host")
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return parts.hostname, port or 5672, user, password


class UrlBroker(Broker):
    def __init__(self, spec: str, url: str) -> None:
        super().__init__()
        self.name = spec
        try:
            self.host, self.port, self.user, self.password = parse_amqp_url(url)
        except ValueError as e:
            raise BrokerError(str(e)) from None

    def start(self, timeout: float = 10.0) -> None:
        """Probe the user's broker; a refused connection fails at once.

        Nobody is starting this broker, so a closed port stays closed: waiting
        out ``timeout`` would only delay the same answer. A server that accepts
        but has not answered yet (still starting) is waited for.
        """
        from harness.brokers.probe import wait_ready

        self.identity = wait_ready(
            self.host,
            self.port,
            timeout,
            user=self.user,
            password=self.password,
            retry_refused=False,
        )

    def stop(self) -> None:
        pass


class UrlProvider(Provider):
    name = "url"
    description = "a broker that is already running (url:amqp://host:port)"
    #: how ``registry.start`` words a failure: nobody starts this broker, it is reached
    failure = "not reachable"

    def create(self, spec: str, workdir: str) -> Broker:
        _, _, url = spec.partition(":")
        if not url:
            raise BrokerError(f"bad broker {spec!r}: expected url:amqp://host:port")
        return UrlBroker(spec, url)
