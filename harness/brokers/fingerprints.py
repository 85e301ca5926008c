"""What the harness knows of a broker from who it says it is (the open frame's product and version).

A broker reached through ``url:`` is only known by its open frame. Its
fingerprint picks the address convention (RabbitMQ 3.x routes
``/amq/queue/NAME`` after a declare, RabbitMQ 4 uses ``/queues/NAME``), so
``--broker url:amqp://host:5672`` works against either without flags. What a
product lacks per version range is a known-failure entry with ``lacks``
(``harness/matrix/known_failures.json``), so it is written once, with its
reference, for every provider.

An unknown product gets the ``bare`` convention: the queue name as the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.brokers import conventions
from harness.brokers.conventions import Convention
from harness.brokers.versions import name_matches, version_matches
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART

__all__ = ["FINGERPRINTS", "Fingerprint", "capabilities_for", "convention_for", "lookup"]

#: the spec's name for the anonymous relay, offered in the open frame (AMQP 1.0 addendum)
OFFERED_RELAY = "ANONYMOUS-RELAY"


@dataclass(frozen=True)
class Fingerprint:
    """A product (fnmatch, any case) and version range, and the convention it uses."""

    product: str
    versions: str
    convention: str
    notes: str = ""

    def matches(self, product: str, version: str) -> bool:
        return name_matches(self.product, product) and version_matches(self.versions, version)


FINGERPRINTS: tuple[Fingerprint, ...] = (
    Fingerprint(
        "RabbitMQ",
        "<4",
        "rabbitmq-v1",
        "rabbitmq_amqp1_0 plugin: /queue/NAME declares with the attach's durability, "
        "/amq/queue/NAME routes to an existing queue",
    ),
    Fingerprint(
        "RabbitMQ",
        ">=4",
        "rabbitmq-v2",
        "AMQP 1.0 in the core, address v2: queues come from the /management node; "
        "v1 addresses are deprecated (refused from 4.3 unless permitted)",
    ),
)


def _field(identity: Any, key: str) -> str:
    if identity is None:
        return ""
    if isinstance(identity, dict):
        return str(identity.get(key) or "")
    return str(getattr(identity, key, "") or "")


def lookup(identity: Any) -> Fingerprint | None:
    """The first fingerprint for a ``BrokerIdentity`` (or a results.json broker dict), or None."""
    product, version = _field(identity, "product"), _field(identity, "version")
    return next((f for f in FINGERPRINTS if f.matches(product, version)), None)


def convention_for(identity: Any) -> Convention:
    """The address convention of the broker that answered; ``bare`` when it is not known."""
    found = lookup(identity)
    return conventions.get(found.convention if found else "bare")


def capabilities_for(identity: Any, restart: bool = False) -> frozenset[str]:
    """What a broker known only by its open frame is taken to do.

    ANONYMOUS-RELAY when its open frame offers it; ``dynamic`` unless proven
    otherwise (a ``lacks`` known-failure entry, else the broker's own refusal
    decides); ``restart`` only when the harness can restart it.
    """
    caps = {DYNAMIC}
    offered = getattr(identity, "offered_capabilities", None) or []
    if OFFERED_RELAY in {str(c) for c in offered}:
        caps.add(ANONYMOUS_RELAY)
    if restart:
        caps.add(RESTART)
    return frozenset(caps)
