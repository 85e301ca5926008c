"""The ``container:NAME`` provider: profiles as data, and RabbitMQ 3.10 and 4.0 images built here."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import images
from harness.brokers import conventions, docker_engine
from harness.brokers.base import BrokerError
from harness.brokers.container import (
    ContainerBroker,
    ContainerProvider,
    parse_spec,
    remove_leftover_containers,
)
from harness.brokers.probe import probe
from harness.brokers.profiles import PROFILES
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART
from harness.env import require
from tests.brokers.round_trip import assert_kept_across_restart

KNOWN_CAPABILITIES = {DYNAMIC, ANONYMOUS_RELAY, RESTART}


def _need_docker() -> None:
    reason = ContainerProvider().unavailable()
    if reason:
        require(f"container provider unavailable: {reason}")


def _docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=True
    ).stdout


# -- profiles as data ---------------------------------------------------------


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(BrokerError) as info:
        parse_spec("container:nope")
    assert str(info.value) == (
        f"unknown container profile 'nope' in 'container:nope' (known: {', '.join(sorted(PROFILES))})"
    )
    assert {"rabbitmq-3.10", "rabbitmq-4.0", "rabbitmq-4.3"} <= set(PROFILES)


def test_provider_create_rejects_an_unknown_profile(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="known: "):
        ContainerProvider().create("container:activemq-classic", str(tmp_path))


def test_spec_may_override_the_image() -> None:
    profile, image = parse_spec("container:artemis=apache/activemq-artemis:2.30.0")
    assert profile.name == "artemis" and image == "apache/activemq-artemis:2.30.0"
    assert parse_spec("container:artemis")[1] == ""


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_is_consistent(name: str) -> None:
    p = PROFILES[name]
    assert p.name == name
    # no convention: the fingerprint of who answered decides
    assert p.convention == "" or p.convention in conventions.CONVENTIONS
    if p.addressing is not None:
        assert "{name}" in p.addressing.address
        if p.addressing.declare == conventions.ATTACH:
            assert "{name}" in p.addressing.declare_address
    assert p.capabilities <= KNOWN_CAPABILITIES
    assert bool(p.recipe) != bool(p.image), "an image is either built here or pulled"
    if p.recipe:
        assert p.recipe in images.RECIPES
    assert (p.user is None) == (p.password is None)
    assert p.ready_timeout > p.probe_timeout > 0


def test_profile_claims() -> None:
    assert PROFILES["rabbitmq-3.10"].capabilities == {RESTART}
    r40, r43 = PROFILES["rabbitmq-4.0"], PROFILES["rabbitmq-4.3"]
    assert r40.recipe == "rabbitmq-4.0" and r40.capabilities == {RESTART, ANONYMOUS_RELAY}
    assert r43.recipe == "rabbitmq-4.3" and r43.capabilities == {RESTART, ANONYMOUS_RELAY}
    # RabbitMQ's addresses and dynamic capabilities come from its fingerprint
    for name in ("rabbitmq-3.10", "rabbitmq-4.0", "rabbitmq-4.3"):
        assert PROFILES[name].addressing is None, name
        assert PROFILES[name].dynamic_capabilities is None, name
    assert PROFILES["artemis"].capabilities == {DYNAMIC, ANONYMOUS_RELAY, RESTART}
    # a router keeps nothing: a restart loses everything in flight
    assert RESTART not in PROFILES["skupper-router"].capabilities


def test_unavailable_without_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_engine.shutil, "which", lambda name: None)
    reason = ContainerProvider().unavailable()
    assert reason == "docker is not installed (apt-get install docker.io)"


def test_ryuk_is_disabled_before_testcontainers_is_imported() -> None:
    assert os.environ.get("TESTCONTAINERS_RYUK_DISABLED") == "true"


# -- with a Docker engine -----------------------------------------------------


@pytest.fixture(scope="module")
def rabbitmq_image() -> str:
    """Builds the image once (about 25 s; cached by recipe hash afterwards)."""
    _need_docker()
    return images.build("rabbitmq-3.10")


@pytest.fixture(scope="module")
def broker(
    rabbitmq_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ContainerBroker]:
    b = ContainerProvider().create(
        "container:rabbitmq-3.10", str(tmp_path_factory.mktemp("container"))
    )
    assert isinstance(b, ContainerBroker)
    try:
        b.start()
        yield b
    finally:
        b.stop()


@pytest.mark.slow
def test_identity(broker: ContainerBroker) -> None:
    assert broker.identity.product == "RabbitMQ"
    assert broker.identity.version.startswith("3.10.")
    assert probe(broker.host, broker.port, 5.0, "guest", "guest").product == "RabbitMQ"


@pytest.mark.slow
def test_published_on_loopback_with_labels(broker: ContainerBroker) -> None:
    ports = _docker("port", broker.container_name, "5672").split()
    assert ports == [f"127.0.0.1:{broker.port}"]
    labels = _docker("inspect", "--format", "{{json .Config.Labels}}", broker.container_name)
    assert '"amqp-interop":"1"' in labels
    assert f'"amqp-interop.owner":"{os.getpid()}"' in labels


@pytest.mark.slow
def test_round_trip_and_restart(broker: ContainerBroker) -> None:
    address = broker.address("q")
    assert address == "/amq/queue/q"
    assert_kept_across_restart(broker, address)


@pytest.mark.slow
def test_stop_removes_the_container_and_keeps_its_logs(rabbitmq_image: str, tmp_path: Path) -> None:
    b = ContainerProvider().create("container:rabbitmq-3.10", str(tmp_path))
    assert isinstance(b, ContainerBroker)
    try:
        started = time.monotonic()
        b.start()
        assert time.monotonic() - started < 60
        name = b.container_name
        assert _docker("ps", "-q", "--filter", f"name=^{name}$").strip()
    finally:
        b.stop()
    assert _docker("ps", "-aq", "--filter", f"name=^{name}$").strip() == ""
    # readiness is an AMQP open, which can come before the "startup complete" log line:
    # only ask that the container's output was kept after its removal
    assert "[info]" in b.logs()
    assert (tmp_path / f"{name}.log").exists()
    b.stop()  # idempotent


@pytest.mark.slow
def test_a_broker_that_exits_fails_fast_with_its_logs(rabbitmq_image: str, tmp_path: Path) -> None:
    profile = dataclasses.replace(
        PROFILES["rabbitmq-3.10"],
        command=("sh", "-c", "echo 'broken config line 3' >&2; exit 3"),
    )
    b = ContainerBroker("container:rabbitmq-3.10", profile, str(tmp_path))
    started = time.monotonic()
    with pytest.raises(BrokerError) as info:
        b.start()
    assert time.monotonic() - started < 20
    message = str(info.value)
    assert "exited (status 3)" in message and "broken config line 3" in message
    assert "\n" not in message
    assert "broken config line 3" in info.value.logs
    assert _docker("ps", "-aq", "--filter", f"name=^{b.container_name}$").strip() == ""


@pytest.mark.slow
def test_a_missing_registry_image_is_one_line(tmp_path: Path) -> None:
    _need_docker()
    b = ContainerProvider().create("container:artemis=amqp-interop/no-such-image:0", str(tmp_path))
    with pytest.raises(BrokerError) as info:
        b.start()
    message = str(info.value)
    assert message.startswith(
        "image amqp-interop/no-such-image:0 is not here and could not be pulled"
    )
    assert "\n" not in message


@pytest.mark.slow
def test_remove_leftover_containers(rabbitmq_image: str) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    tag = f"amqp-interop-leftover-test-{os.getpid()}"
    made = {}
    for who, owner in (("dead", dead.pid), ("live", os.getpid())):
        name = f"{tag}-{who}"
        _docker(
            "create", "--name", name, "--label", "amqp-interop=1",
            "--label", f"amqp-interop.owner={owner}", rabbitmq_image,
        )  # fmt: skip
        made[who] = name
    try:
        removed = remove_leftover_containers()
        assert made["dead"] in removed and made["live"] not in removed
        # (all_owners=True would also take other test workers' live brokers: not here)
    finally:
        subprocess.run(["docker", "rm", "-f", *made.values()], capture_output=True, timeout=60)
