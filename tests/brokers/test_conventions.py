"""Address conventions and fingerprints: how a queue is addressed, chosen by who answered.

Why: ``--broker url:amqp://host:5672`` must work against RabbitMQ 3.x (plugin,
``/amq/queue/NAME``), RabbitMQ 4 (address v2, ``/queues/NAME``) and brokers
that take a bare name, without flags; ``--address-format`` overrides.
"""

from __future__ import annotations

import pytest

from harness.brokers import conventions, fingerprints
from harness.brokers.base import BrokerIdentity
from harness.brokers.conventions import parse_address_format
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART


@pytest.mark.parametrize(
    ("product", "version", "convention"),
    [
        ("RabbitMQ", "3.10.8", "rabbitmq-v1"),
        ("rabbitmq", "3.13.7", "rabbitmq-v1"),
        ("RabbitMQ", "4.0.5", "rabbitmq-v2"),
        ("RabbitMQ", "4.3.6", "rabbitmq-v2"),
        ("apache-activemq-artemis", "2.41.0", "bare"),
        ("amqp-interop embedded broker", "0.1.0", "bare"),
        ("", "", "bare"),
    ],
)
def test_the_open_frame_picks_the_convention(product: str, version: str, convention: str) -> None:
    identity = BrokerIdentity(product=product, version=version)
    assert fingerprints.convention_for(identity).name == convention
    assert fingerprints.convention_for({"product": product, "version": version}).name == convention


def test_addresses_and_declarations() -> None:
    v1, v2, bare = (conventions.get(n) for n in ("rabbitmq-v1", "rabbitmq-v2", "bare"))
    assert (v1.address_for("q"), v1.declare, v1.declare_address) == (
        "/amq/queue/q",
        conventions.ATTACH,
        "/queue/{name}",
    )
    assert (v2.address_for("q"), v2.declare) == ("/queues/q", conventions.MANAGEMENT)
    assert (bare.address_for("q"), bare.declare) == ("q", conventions.NONE)
    bare.declare_queue("127.0.0.1", 1, "q")  # declares nothing, connects nowhere


def test_address_format_names_a_convention_or_is_a_template() -> None:
    assert parse_address_format("rabbitmq-v2") is conventions.get("rabbitmq-v2")
    custom = parse_address_format(" topic://{name} ")
    assert (custom.address_for("q"), custom.declare) == ("topic://q", conventions.NONE)
    for bad in ("nope", "/queues/", "/a/{name}/{name}", "/a {name}"):
        with pytest.raises(ValueError) as info:
            parse_address_format(bad)
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="known: bare, rabbitmq-v1, rabbitmq-v2"):
        conventions.get("v3")


def test_capabilities_from_the_open_frame() -> None:
    """Relay when offered; dynamic until proven otherwise; restart only if the harness can."""
    plain = BrokerIdentity(product="X", version="1")
    relay = BrokerIdentity(product="X", version="1", offered_capabilities=["ANONYMOUS-RELAY"])
    assert fingerprints.capabilities_for(plain) == {DYNAMIC}
    assert fingerprints.capabilities_for(relay) == {DYNAMIC, ANONYMOUS_RELAY}
    assert fingerprints.capabilities_for(plain, restart=True) == {DYNAMIC, RESTART}


@pytest.mark.parametrize(
    ("version", "caps"),
    [
        ("3.10.8", ()),
        ("4.0.5", ()),
        ("4.1.0", ("temporary-queue",)),
        ("4.2.0", ("rabbitmq:volatile-queue",)),
        ("4.3.6", ("rabbitmq:volatile-queue",)),
    ],
)
def test_the_open_frame_supplies_the_dynamic_capability(version: str, caps: tuple) -> None:
    """RabbitMQ answers a dynamic source only with its own capability: 4.1.0 and 4.2.0 release notes."""
    identity = BrokerIdentity(product="RabbitMQ", version=version)
    assert fingerprints.dynamic_capabilities_for(identity) == caps
    assert fingerprints.dynamic_capabilities_for(BrokerIdentity(product="X", version="1")) == ()


def test_a_broker_adopts_its_fingerprint(tmp_path) -> None:
    """A capability to put on dynamic sources means the broker answers them: it has dynamic."""
    from harness.brokers.url import UrlBroker

    b = UrlBroker("url:amqp://127.0.0.1:1", "amqp://127.0.0.1:1")
    b.capabilities = frozenset({RESTART})
    b.identity = BrokerIdentity(product="RabbitMQ", version="4.3.6")
    b.adopt_fingerprint()
    assert b.dynamic_capabilities == ("rabbitmq:volatile-queue",)
    assert b.capabilities == {RESTART, DYNAMIC}
    assert b.describe()["dynamic_capabilities"] == ["rabbitmq:volatile-queue"]
    b.adopt_fingerprint(())  # a profile that says "none" wins over the fingerprint
    assert b.dynamic_capabilities == () and "dynamic_capabilities" not in b.describe()
