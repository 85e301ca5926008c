"""Container broker profiles, as data: what ``container:NAME`` starts and what it claims.

Why data: adding a broker to the matrix should be adding a profile, not code.
A profile says which image to run (pulled from a registry, or built here by a
recipe of ``harness/images.py``), the AMQP port inside the container, its
environment and command, the credentials peers use, its address convention
(``harness/brokers/conventions.py``: how a logical queue maps to an address
and comes to exist), what the broker can do (the capabilities the scenarios
ask for), and how long readiness (an AMQP open) may take.

``rabbitmq-3.10``, ``rabbitmq-4.0`` and ``rabbitmq-4.3`` are built and verified on this machine
(no registry is reachable here); the registry profiles are for users who can
pull images. ``container:rabbitmq-4.0=rabbitmq:4.0`` runs the registry's image
with the same profile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from harness.brokers import conventions, rabbitmq_config
from harness.brokers.conventions import Convention
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART

__all__ = ["PROFILES", "Profile"]


@dataclass(frozen=True)
class Profile:
    """One broker in a container."""

    name: str
    description: str
    image: str
    amqp_port: int = 5672
    env: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()
    user: str | None = None
    password: str | None = None
    #: a name in ``harness/brokers/conventions.py``: the address peers use for a
    #: logical queue, and how the harness makes the queue exist first. Empty: the
    #: fingerprint of who answered decides (``fingerprints.py``); a name opts out
    #: of it (a RabbitMQ 4 configured to permit v1 addresses can use ``rabbitmq-v1``)
    convention: str = ""
    capabilities: frozenset[str] = frozenset()
    #: seconds until an AMQP open must succeed (JVM brokers are slow to start)
    ready_timeout: float = 90.0
    probe_timeout: float = 5.0
    #: a recipe in harness/images.py: the image is built here, never pulled
    recipe: str | None = None
    notes: str = ""
    #: what a dynamic source must carry here (the peers' ``--dynamic-capability``);
    #: None: the fingerprint of who answered decides
    dynamic_capabilities: tuple[str, ...] | None = None
    #: how the broker inside is configured, as results record it (``describe()``'s
    #: ``profile``): ``interop compare`` never takes two profiles for one broker
    broker_profile: tuple[tuple[str, object], ...] = ()

    @property
    def addressing(self) -> Convention | None:
        """The profile's own convention, or None when the fingerprint decides."""
        return conventions.get(self.convention) if self.convention else None


_SKUPPER_CONF = json.dumps(
    [
        ["router", {"id": "interop", "mode": "standalone"}],
        [
            "listener",
            {
                "host": "0.0.0.0",
                "port": "5672",
                "role": "normal",
                "authenticatePeer": False,
                "saslMechanisms": "ANONYMOUS",
            },
        ],
        ["address", {"prefix": "", "distribution": "balanced"}],
    ]
)

#: RabbitMQ 4.3 with v1 addresses permitted (deprecated, refused by default from 4.3):
#: the image's config plus one key, written at start; the server reads it instead
_PERMIT_V1 = "deprecated_features.permit.amqp_address_v1 = true\n"
_RABBITMQ_V1_COMMAND = (
    "sh",
    "-c",
    'printf "%s" "$INTEROP_CONF" > /tmp/rabbitmq.conf'
    " && RABBITMQ_CONFIG_FILE=/tmp/rabbitmq.conf exec /usr/lib/rabbitmq/bin/rabbitmq-server",
)


def _v1_config(series: str) -> str:
    return rabbitmq_config.config_files(series, "0.0.0.0:5672")["rabbitmq.conf"] + _PERMIT_V1


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile(
            name="rabbitmq-3.10",
            description="RabbitMQ 3.10 (Debian bookworm) + rabbitmq_amqp1_0, image built here",
            image="",  # the recipe's tag
            recipe="rabbitmq-3.10",
            user="guest",
            password="guest",
            capabilities=frozenset({RESTART}),
            ready_timeout=60.0,
            notes="no ANONYMOUS-RELAY; a dynamic source ends the session (amqp:not-implemented); "
            "/queue/NAME declares with the attach's durability, so the harness declares "
            "durable queues and peers use /amq/queue/NAME",
        ),
        Profile(
            name="rabbitmq-4.0",
            description="RabbitMQ 4.0 (Debian trixie), AMQP 1.0 built in, address v2, image built here",
            image="",  # the recipe's tag
            recipe="rabbitmq-4.0",
            user="guest",
            password="guest",
            capabilities=frozenset({RESTART, ANONYMOUS_RELAY}),
            ready_timeout=60.0,
            notes="v2 addresses never create queues: the harness declares them through the "
            "/management node (whose replies come pre-settled); ANONYMOUS-RELAY offered; a "
            "dynamic source ends the session (amqp:not-implemented) before 4.1. Verified "
            "here with 4.0.5; starts in about 3 s.",
        ),
        Profile(
            name="rabbitmq-4.3",
            description="RabbitMQ 4.3 (Debian forky), AMQP 1.0 built in, address v2 only, "
            "image built here",
            image="",  # the recipe's tag
            recipe="rabbitmq-4.3",
            user="guest",
            password="guest",
            capabilities=frozenset({RESTART, ANONYMOUS_RELAY}),
            ready_timeout=60.0,
            notes="v1 addresses are refused (amqp:invalid-field, amqp_address_v1_not_permitted); "
            "a dynamic source is answered only with the capability rabbitmq:volatile-queue "
            "(Direct Reply-To, from 4.2.0), which the fingerprint supplies. Verified here "
            "with 4.3.6.",
        ),
        Profile(
            name="rabbitmq-4.3-v1",
            description="RabbitMQ 4.3 (the rabbitmq-4.3 image) permitting v1 addresses: "
            "/amq/queue/NAME after a durable declare on /queue/NAME",
            image="",  # the recipe's tag
            recipe="rabbitmq-4.3",
            env=(("INTEROP_CONF", _v1_config("4.3")),),
            command=_RABBITMQ_V1_COMMAND,
            user="guest",
            password="guest",
            convention="rabbitmq-v1",  # opts out of the fingerprint's v2
            capabilities=frozenset({RESTART, ANONYMOUS_RELAY}),
            ready_timeout=60.0,
            notes="for users whose applications still use v1 addresses: "
            "deprecated_features.permit.amqp_address_v1 = true",
        ),
        Profile(
            name="artemis",
            description="Apache ActiveMQ Artemis (registry image apache/activemq-artemis)",
            image="apache/activemq-artemis:2.41.0-alpine",
            env=(("ARTEMIS_USER", "artemis"), ("ARTEMIS_PASSWORD", "artemis")),
            user="artemis",
            password="artemis",
            capabilities=frozenset({DYNAMIC, ANONYMOUS_RELAY, RESTART}),
            ready_timeout=120.0,
            notes="addresses and anycast queues are created on attach, durable; "
            "temporary queues answer dynamic receivers. Not verified here (no registry).",
        ),
        Profile(
            name="skupper-router",
            description="Skupper router (registry image quay.io/skupper/skupper-router): "
            "a router, not a broker",
            image="quay.io/skupper/skupper-router:main",
            env=(("INTEROP_ROUTER_CONF", _SKUPPER_CONF),),
            command=(
                "sh",
                "-c",
                'printf "%s" "$INTEROP_ROUTER_CONF" > /tmp/skrouterd.json'
                " && exec skrouterd -c /tmp/skrouterd.json",
            ),
            capabilities=frozenset({DYNAMIC, ANONYMOUS_RELAY}),
            ready_timeout=60.0,
            notes="routes messages between attached links; no store-and-forward queues: "
            "a sender gets credit only while a receiver is attached, nothing survives a "
            "restart (no RESTART). Claims dynamic addresses and ANONYMOUS-RELAY. "
            "SASL ANONYMOUS. Not verified here (no registry).",
        ),
    ]
}

# Artemis images built here, a profile per pinned version (harness/brokers/artemis_image.py)
from harness.brokers import artemis_image  # noqa: E402 - needs Profile defined above

PROFILES.update((p.name, p) for p in artemis_image.profiles())
