"""The Qpid JMS reference peer (peers/jms): built like the protonj2 peer (harness/toolchains/java.py).

JMS has no listener (no ``listen``); reconnect is the peer's own loop (a fresh
JMS connection). Its request role's dynamic reply address comes from a
temporary queue: a *sender* link with a dynamic target (AMQP 1.0 3.5.4), not a
receiver with a dynamic source (3.5.3); the request-response scenario accepts
both forms, and the peer's request result says which (``reply_via``).
"""

from __future__ import annotations

from pathlib import Path

from harness.toolchains.java import PEERS

NAME = "jms"
CAPABILITIES = frozenset({"reconnect", "dynamic", "dynamic-target"})  # a temporary queue


def unavailable() -> str | None:
    """One line saying why the jms peer cannot be built here, or None when it can."""
    return PEERS[NAME].unavailable()


def build(cache_dir: Path) -> list[str]:
    """The jms peer's argv prefix (``java ... -jar peer``), built once per digest."""
    return PEERS[NAME].build(cache_dir)


def version() -> str:
    return PEERS[NAME].version()
