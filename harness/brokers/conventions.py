"""Address conventions: how a logical queue becomes an address, and how it comes to exist.

Brokers disagree on both. RabbitMQ 3.x's plugin declares the queue behind
``/queue/NAME`` on attach (with the attaching terminus's durability) and
routes ``/amq/queue/NAME`` only to a queue that exists; RabbitMQ 4 (address
v2) never creates a queue on attach, its ``/management`` node does
(``PUT /queues/NAME``); Artemis and the embedded broker make one on attach
for any bare name. A convention names one of these, so a profile, a broker
fingerprint and ``--address-format`` all say the same thing one way.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ATTACH",
    "CONVENTIONS",
    "Convention",
    "MANAGEMENT",
    "NONE",
    "get",
    "parse_address_format",
]

#: how queues come to exist
NONE = "none"  # the broker creates them on attach (Artemis, embedded) or needs none (router)
ATTACH = "attach"  # a sender attach with a durable terminus to ``declare_address`` (RabbitMQ 3.x)
MANAGEMENT = "management"  # PUT /queues/NAME on the /management node (RabbitMQ 4)


@dataclass(frozen=True)
class Convention:
    """An address template (``{name}`` is the queue) and how its queue is declared."""

    name: str
    address: str
    declare: str = NONE
    declare_address: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if "{name}" not in self.address:
            raise ValueError(f"address format {self.address!r} has no {{name}}")
        if self.declare not in (NONE, ATTACH, MANAGEMENT):
            raise ValueError(f"unknown declaration {self.declare!r}")

    def address_for(self, queue: str) -> str:
        return self.address.replace("{name}", queue)

    def declare_queue(
        self,
        host: str,
        port: int,
        queue: str,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        """Make the queue exist the way this convention needs (nothing for ``none``)."""
        from harness.brokers.probe import declare_queue_by_attach, declare_queue_by_management

        if self.declare == ATTACH:
            address = self.declare_address.replace("{name}", queue)
            declare_queue_by_attach(host, port, address, timeout, user, password)
        elif self.declare == MANAGEMENT:
            declare_queue_by_management(host, port, queue, timeout, user, password)


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in [
        Convention(
            "bare",
            "{name}",
            description="the queue name itself; the broker makes the queue on attach",
        ),
        Convention(
            "rabbitmq-v1",
            "/amq/queue/{name}",
            ATTACH,
            "/queue/{name}",
            description="RabbitMQ 3.x: declared durable by an attach to /queue/NAME, "
            "used as /amq/queue/NAME (which never declares)",
        ),
        Convention(
            "rabbitmq-v2",
            "/queues/{name}",
            MANAGEMENT,
            description="RabbitMQ 4 (address v2): declared through the /management node, "
            "used as /queues/NAME",
        ),
    ]
}


def get(name: str) -> Convention:
    """A convention by name; ValueError naming the known ones."""
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown address convention {name!r} (known: {', '.join(CONVENTIONS)})"
        ) from None


def parse_address_format(text: str) -> Convention:
    """``--address-format``: a convention's name, or a template with ``{name}`` (declares nothing).

    ``rabbitmq-v2``, ``bare``, ``/queues/{name}``, ``topic://{name}``; anything
    else is a ValueError of one line.
    """
    text = text.strip()
    if text in CONVENTIONS:
        return CONVENTIONS[text]
    if "{name}" in text:
        if any(c.isspace() for c in text) or text.count("{") != 1 or text.count("}") != 1:
            raise ValueError(f"bad address format {text!r}: one {{name}}, no spaces")
        return Convention("custom", text, description=f"as given: {text}")
    raise ValueError(
        f"bad address format {text!r}: a template with {{name}} (like /queues/{{name}}) "
        f"or one of {', '.join(CONVENTIONS)}"
    )
