"""Broker names on the command line -> providers.

``embedded``, ``embedded:NAME`` (a variant), ``rabbitmq``, ``container:NAME`` and
``url:amqp://...``; the part before the first colon picks the provider, the
whole spec is the broker's name in results.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from harness.brokers.base import Broker, BrokerError, BrokerUnavailable, Provider

#: provider name -> (module, class); imported lazily so a missing optional
#: dependency (testcontainers) only matters when that provider is used
_PROVIDERS: dict[str, tuple[str, str]] = {
    "embedded": ("harness.brokers.embedded", "EmbeddedProvider"),
    "rabbitmq": ("harness.brokers.rabbitmq", "RabbitMQProvider"),
    "artemis": ("harness.brokers.artemis", "ArtemisProvider"),
    "container": ("harness.brokers.container", "ContainerProvider"),
    "url": ("harness.brokers.url", "UrlProvider"),
}


class UnknownBroker(ValueError):
    pass


def provider_names() -> list[str]:
    return list(_PROVIDERS)


def provider(spec: str) -> Provider:
    """The provider for a broker spec; ``UnknownBroker`` (one line) for anything else."""
    kind = spec.split(":", 1)[0].strip()
    if kind.startswith("artemis"):  # artemis[-VERSION][:stock]
        from harness.brokers.artemis import ArtemisProvider, parse_spec

        try:
            parse_spec(spec)
        except ValueError as e:
            raise UnknownBroker(str(e)) from None
        return ArtemisProvider(spec)
    if kind == "embedded" and ":" in spec:  # embedded:NAME, a variant of the embedded broker
        from harness.brokers.embedded import variant_of

        try:
            variant_of(spec)
        except ValueError as e:
            raise UnknownBroker(str(e)) from None
    elif kind not in _PROVIDERS or (kind == "rabbitmq" and ":" in spec):
        known = "embedded, rabbitmq, container:NAME, url:amqp://HOST:PORT"
        raise UnknownBroker(f"unknown broker {spec!r} (known: {known})")
    if kind == "url":  # a bad URL is a usage error now, not a failed broker in every cell
        from harness.brokers.url import parse_amqp_url

        url = spec.partition(":")[2]
        if not url:
            raise UnknownBroker(f"bad broker {spec!r}: expected url:amqp://HOST:PORT")
        try:
            parse_amqp_url(url)
        except ValueError as e:
            raise UnknownBroker(f"bad broker {spec!r}: {e}") from None
    module, cls = _PROVIDERS[kind]
    return getattr(importlib.import_module(module), cls)()


def create(spec: str, workdir: str) -> Broker:
    """A not-yet-started broker for ``spec``."""
    return provider(spec).create(spec, workdir)


def start(spec: str, workdir: Path, on_create: Callable[[Broker], None] | None = None) -> Broker:
    """Create and start the broker for ``spec`` in a folder of its own under ``workdir``.

    ``BrokerUnavailable`` when the provider cannot run here (a skip on a laptop),
    ``BrokerError`` with one line when it could but did not start ("broker SPEC
    did not start: ..."; a provider may word it otherwise with a ``failure``
    attribute, e.g. url's "not reachable", since nobody starts that one). A broker that
    fails to start, or is interrupted while starting, is stopped before this returns.
    ``on_create`` sees the broker before it starts, so a caller that may be
    interrupted from another thread can stop one that is still starting.
    """
    try:
        prov = provider(spec)
        reason = prov.unavailable()
    except ImportError as e:
        raise BrokerUnavailable(f"broker {spec} unavailable: {e}") from None
    if reason:
        raise BrokerUnavailable(f"broker {spec} unavailable: {reason}")
    workdir.mkdir(parents=True, exist_ok=True)
    b = prov.create(spec, str(workdir / spec.replace(":", "_").replace("/", "_")))
    if on_create is not None:
        on_create(b)
    try:
        b.start()
    except (BrokerError, OSError, ImportError) as e:
        b.stop()
        if isinstance(e, BrokerUnavailable):
            raise
        failure = getattr(prov, "failure", "did not start")
        raise BrokerError(f"broker {spec} {failure}: {e}", logs=getattr(e, "logs", "")) from e
    except BaseException:
        b.stop()
        raise
    return b


def parse_specs(text: str | None) -> list[str]:
    """``"embedded,rabbitmq"`` -> specs, validating each name; url specs may hold commas? no."""
    specs = [s.strip() for s in (text or "embedded").split(",") if s.strip()]
    for s in specs:
        provider(s)
    return specs
