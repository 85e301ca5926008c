"""What the harness knows of a broker from who it says it is (the open frame's product and version).

A broker reached through ``url:`` is only known by its open frame. Its
fingerprint picks the address convention (RabbitMQ 3.x routes
``/amq/queue/NAME`` after a declare, RabbitMQ 4 uses ``/queues/NAME``), so
``--broker url:amqp://host:5672`` works against either without flags. What a
product lacks per version range is a known-failure entry with ``lacks``
(``harness/matrix/known_failures.json``), so it is written once, with its
reference, for every provider.

A fingerprint also supplies the capabilities a dynamic source must carry for
that broker to answer it (``--dynamic-capability`` of the peer contract):
RabbitMQ answers a dynamic source only when it names RabbitMQ's own kind of
node, ``temporary-queue`` from 4.1.0 (an exclusive queue, rabbitmq-server#13231)
and ``rabbitmq:volatile-queue`` from 4.2.0 (Direct Reply-To for AMQP 1.0,
rabbitmq-server#14474; both in the release notes of that version).

An unknown product gets the ``bare`` convention: the queue name as the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.brokers import conventions
from harness.brokers.conventions import Convention
from harness.brokers.versions import name_matches, version_matches
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART

__all__ = [
    "FINGERPRINTS",
    "Fingerprint",
    "capabilities_for",
    "convention_for",
    "dynamic_capabilities_for",
    "lookup",
]

#: the spec's name for the anonymous relay, offered in the open frame (AMQP 1.0 addendum)
OFFERED_RELAY = "ANONYMOUS-RELAY"


@dataclass(frozen=True)
class Fingerprint:
    """A product (fnmatch, any case) and version range, and the convention it uses.

    ``dynamic_capabilities``: what a dynamic source must carry to be answered
    (empty: a plain dynamic source, the tutorial's).
    """

    product: str
    versions: str
    convention: str
    notes: str = ""
    dynamic_capabilities: tuple[str, ...] = ()

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
        ">=4,<4.1",
        "rabbitmq-v2",
        "AMQP 1.0 in the core, address v2: queues come from the /management node; "
        "v1 addresses are deprecated; a dynamic source ends the session",
    ),
    Fingerprint(
        "RabbitMQ",
        ">=4.1,<4.2",
        "rabbitmq-v2",
        "a dynamic source is answered with an exclusive queue when it carries "
        "temporary-queue (4.1.0 release notes, rabbitmq-server#13231); not verified here",
        dynamic_capabilities=("temporary-queue",),
    ),
    Fingerprint(
        "RabbitMQ",
        ">=4.2",
        "rabbitmq-v2",
        "Direct Reply-To for AMQP 1.0 (4.2.0 release notes, rabbitmq-server#14474): a dynamic "
        "source with rabbitmq:volatile-queue gets /queues/amq.rabbitmq.reply-to.TOKEN; a plain "
        "one is refused (amqp:not-implemented); v1 addresses are refused unless permitted "
        "(4.3.6 here)",
        dynamic_capabilities=("rabbitmq:volatile-queue",),
    ),
    Fingerprint(
        "apache-activemq-artemis",
        ">=2.31",
        "bare",
        "Artemis (its open frame keeps this product name after the 2.50 rename; 2.31.2, "
        "2.44.0, 2.56.0 here): an address and its queue are made on attach, a plain "
        "dynamic source gets a temporary queue; a bare address is a queue only where "
        "default-address-routing-type is ANYCAST (the artemis provider; artemis create "
        "leaves it MULTICAST)",
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


def dynamic_capabilities_for(identity: Any) -> tuple[str, ...]:
    """The capabilities a dynamic source needs on the broker that answered (may be empty)."""
    found = lookup(identity)
    return found.dynamic_capabilities if found else ()


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
