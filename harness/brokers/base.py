"""What every broker provider gives the runner.

A provider turns a name on the command line (``embedded``, ``rabbitmq``,
``container:rabbitmq-3.10``, ``url:amqp://...``) into a started broker the
runner can point peers at. The runner knows nothing of how a broker starts;
it only uses this interface, so adding a broker is adding one module.
"""

from __future__ import annotations

import abc
import atexit
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from harness.brokers.ports import PortLease, lease_ports


class BrokerError(Exception):
    """A broker could not be started, probed or stopped.

    The message is one line a person can act on; ``logs`` carries the tail of
    the broker's own output when there is one, for the artifacts.
    """

    def __init__(self, message: str, logs: str = "") -> None:
        super().__init__(message)
        self.logs = logs


class BrokerUnavailable(BrokerError):
    """The provider cannot run here (a missing package, no Docker): a skip, not a failure."""


@dataclass
class BrokerIdentity:
    """Who answered: read from the open frame, not from configuration."""

    product: str = ""
    version: str = ""
    container_id: str = ""
    offered_capabilities: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    #: how the broker is configured where known (a provider's profile, the url
    #: provider's routing probe): known failures may match on it (matrix/known.py)
    profile: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "version": self.version,
            "container_id": self.container_id,
            "offered_capabilities": list(self.offered_capabilities),
        }


class Broker(abc.ABC):
    """A running (or startable) broker. Context manager: stopped on exit, whatever happens."""

    #: provider spec as the user wrote it ("rabbitmq", "container:rabbitmq-3.10")
    name: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    user: str | None = None
    password: str | None = None
    capabilities: frozenset[str] = frozenset()
    #: symbols a dynamic source must carry for this broker to answer it (the peers'
    #: ``--dynamic-capability``); set from the fingerprint once the broker answered
    dynamic_capabilities: tuple[str, ...] = ()
    identity: BrokerIdentity
    #: the ports a local broker holds from its first start until it stops (lease_ports)
    _ports: PortLease | None = None
    #: the harness's own reference broker: its failure is the harness's, never a verdict
    ours: bool = False

    def __init__(self) -> None:
        self.identity = BrokerIdentity()

    def lease_ports(self, n: int) -> list[int]:
        """``n`` ports for this broker (harness.brokers.ports), held until ``release_ports()``.

        A restart keeps them; a lease held from before is let go first.
        """
        self.release_ports()
        try:
            self._ports = lease_ports(n)
        except OSError as e:
            raise BrokerError(f"{self.name}: {e}") from None
        return self._ports.ports

    def release_ports(self) -> None:
        """Let other harness processes have this broker's ports again. Idempotent."""
        if self._ports is not None:
            self._ports.release()
            self._ports = None

    @abc.abstractmethod
    def start(self, timeout: float = 60.0) -> None:
        """Start and wait until an AMQP open handshake succeeds; then ``identity`` is set."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop and remove everything the broker left (processes, containers, directories). Idempotent."""

    def restart(self, timeout: float = 60.0) -> None:
        """Stop and start again on the same port, keeping stored messages (if ``RESTART`` in capabilities)."""
        raise BrokerError(f"broker {self.name} cannot be restarted by the harness")

    def exited(self) -> str | None:
        """Why a started broker is no longer running, when it stopped by itself and that is
        cheap to see (its own process ended); None while it runs or when it cannot tell.

        Checked while a cell runs: a dead broker ends the cell at once instead of leaving
        its peers to wait for their own timeouts.
        """
        return None

    def settle_queues(self) -> None:
        """Block until queues handed out by ``address()`` would survive ``restart()``.

        Called before a cell whose fault plan restarts the broker; most brokers
        need nothing.
        """
        return None

    def address(self, queue: str) -> str:
        """The address a peer uses for the logical queue ``queue`` (broker conventions differ)."""
        return queue

    def url(self, host: str | None = None, port: int | None = None) -> str:
        """``amqp://[user:password@]host:port`` for peers, optionally pointing at a tap instead."""
        auth = ""
        if self.user is not None:
            auth = quote(self.user, safe="")
            if self.password is not None:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        return f"amqp://{auth}{host or self.host}:{port if port is not None else self.port}"

    def logs(self) -> str:
        """The broker's own output, for artifacts of a failed cell."""
        return ""

    def describe(self) -> dict[str, Any]:
        """What results.json records about this broker."""
        d = {"name": self.name, "product": self.identity.product, "version": self.identity.version}
        d["offered_capabilities"] = list(self.identity.offered_capabilities)
        if self.dynamic_capabilities:
            d["dynamic_capabilities"] = list(self.dynamic_capabilities)
        return d

    def adopt_fingerprint(self, profile_caps: tuple[str, ...] | None = None) -> None:
        """Take the dynamic-source capabilities of who answered (``fingerprints.py``).

        ``profile_caps`` (not None) wins over the fingerprint. A broker that needs
        a capability for its dynamic sources answers them with one: it has ``dynamic``.
        """
        from harness.brokers import fingerprints
        from harness.capabilities import DYNAMIC

        caps = profile_caps
        if caps is None:
            caps = fingerprints.dynamic_capabilities_for(self.identity)
        self.dynamic_capabilities = tuple(caps)
        if self.dynamic_capabilities:
            self.capabilities = self.capabilities | {DYNAMIC}

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Provider(abc.ABC):
    """Makes brokers of one kind. ``unavailable()`` says why it cannot run here, or None."""

    name: str = ""
    description: str = ""

    def unavailable(self) -> str | None:
        return None

    @abc.abstractmethod
    def create(self, spec: str, workdir: str) -> Broker:
        """A not-yet-started broker for ``spec``; ``workdir`` is a scratch folder the broker may use."""


_live: set[Broker] = set()
_live_lock = threading.Lock()


def track(broker: Broker) -> None:
    """Remember a started broker whose processes or container live outside our process tree.

    Such a broker (a RabbitMQ node with its own epmd, a container in the Docker
    engine) would survive its parent; ``atexit`` stops every tracked one.
    """
    with _live_lock:
        _live.add(broker)


def untrack(broker: Broker) -> None:
    with _live_lock:
        _live.discard(broker)


def _stop_tracked() -> None:
    with _live_lock:
        brokers = list(_live)
    for b in brokers:
        try:
            b.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_stop_tracked)
