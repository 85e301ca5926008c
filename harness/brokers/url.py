"""A broker the user already runs: ``url:amqp://[user:pass@]host:port[?address-format=F]``.

The harness neither starts nor stops it, but still probes it (an AMQP open
must come back) and records who answered. That answer also decides how
queues are addressed (``fingerprints.py``): a RabbitMQ 3.x gets
``/amq/queue/NAME`` after a durable declare, a RabbitMQ 4 ``/queues/NAME``
declared through its ``/management`` node, anything else the bare name. The
``address-format`` option (``--address-format`` on ``interop run``) overrides
it: a convention's name (``bare``, ``rabbitmq-v1``, ``rabbitmq-v2``) or a
template such as ``/queues/{name}`` (then the harness declares nothing).

An Artemis says nothing in its open or attach about how it routes a bare
address, so its routing is probed (``routing_probe.py``) and recorded as the
broker's profile (``{"routing": "anycast"|"multicast"}``): a stock multicast
instance's subscription losses then get their known cause.
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from harness.brokers import fingerprints, routing_probe
from harness.brokers.base import Broker, BrokerError, Provider
from harness.brokers.conventions import Convention, parse_address_format

__all__ = ["UrlBroker", "UrlProvider", "address_format_of", "parse_amqp_url", "with_address_format"]

#: the one option a url broker's query may carry
ADDRESS_FORMAT = "address-format"
#: the open frame's product of Artemis (fingerprints.py), whose routing is probed
ARTEMIS = "apache-activemq-artemis"


def address_format_of(url: str) -> Convention | None:
    """The URL's ``?address-format=`` as a convention, None without one; ValueError if bad."""
    try:
        query = parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=False)
    except ValueError as e:
        raise ValueError(f"bad URL {url!r}: {e}") from None
    found: Convention | None = None
    for key, value in query:
        if key != ADDRESS_FORMAT:
            raise ValueError(f"bad URL {url!r}: unknown option {key!r} (known: {ADDRESS_FORMAT})")
        try:
            found = parse_address_format(value)
        except ValueError as e:
            raise ValueError(f"bad URL {url!r}: {e}") from None
    return found


def with_address_format(spec: str, text: str) -> str:
    """``url:...`` with its ``address-format`` set to ``text`` (replacing one it had)."""
    kind, _, url = spec.partition(":")
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != ADDRESS_FORMAT
    ]
    query.append((ADDRESS_FORMAT, text.strip()))
    encoded = "&".join(f"{k}={quote(v, safe='/{}:')}" for k, v in query)
    return f"{kind}:" + urlunsplit(parts._replace(query=encoded))


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
    address_format_of(url)  # a bad option is a usage error too
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return parts.hostname, port or 5672, user, password


class UrlBroker(Broker):
    def __init__(self, spec: str, url: str) -> None:
        super().__init__()
        self.name = spec
        try:
            self.host, self.port, self.user, self.password = parse_amqp_url(url)
            self.address_format = address_format_of(url)
        except ValueError as e:
            raise BrokerError(str(e)) from None
        #: how queues are addressed: the override, else the fingerprint's (set by start)
        self.convention: Convention | None = self.address_format
        self._declared: set[str] = set()
        self._lock = threading.Lock()

    def start(self, timeout: float = 10.0) -> None:
        """Probe the user's broker; a refused connection fails at once.

        Nobody is starting this broker, so a closed port stays closed: waiting
        out ``timeout`` would only delay the same answer. A server that accepts
        but has not answered yet (still starting) is waited for. Who answered
        picks the address convention and what the broker is taken to do.
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
        self.convention = self.address_format or fingerprints.convention_for(self.identity)
        self.capabilities = fingerprints.capabilities_for(self.identity)
        self.adopt_fingerprint()
        if self.identity.product == ARTEMIS:
            routing = routing_probe.probe_routing(self.host, self.port, self.user, self.password)
            if routing is not None:
                self.identity.profile = {"routing": routing}

    def address(self, queue: str) -> str:
        """The convention's address for ``queue``, declaring the queue first where it needs that."""
        convention = self.convention or fingerprints.convention_for(self.identity)
        with self._lock:
            if queue not in self._declared:
                convention.declare_queue(self.host, self.port, queue, self.user, self.password)
                self._declared.add(queue)
        return convention.address_for(queue)

    def describe(self) -> dict[str, object]:
        d = super().describe()
        if self.convention is not None:
            d["convention"] = self.convention.name
            d["address_format"] = self.convention.address
        if self.identity.profile:
            d["profile"] = dict(self.identity.profile)
        return d

    def stop(self) -> None:
        pass


class UrlProvider(Provider):
    name = "url"
    description = "a broker that is already running (url:amqp://host:port[?address-format=F])"
    #: how ``registry.start`` words a failure: nobody starts this broker, it is reached
    failure = "not reachable"

    def create(self, spec: str, workdir: str) -> Broker:
        _, _, url = spec.partition(":")
        if not url:
            raise BrokerError(f"bad broker {spec!r}: expected url:amqp://host:port")
        return UrlBroker(spec, url)
