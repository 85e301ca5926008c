"""Artemis images built here: recipes and profiles per pinned version (no Docker needed),
and ``container:artemis-2.56`` run for real: identity, anycast, dynamic receiver, crash restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from proton import Message
from proton.utils import BlockingConnection

from harness import images
from harness.brokers import artemis_dist, artemis_image, artemis_instance, artemis_xml
from harness.brokers.container import ContainerBroker, ContainerProvider
from harness.brokers.profiles import PROFILES
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART
from harness.env import require
from tests.brokers.round_trip import assert_kept_across_restart

NEWEST = artemis_image.name_of(artemis_dist.NEWEST)


def test_a_recipe_and_a_profile_per_pinned_version() -> None:
    names = [artemis_image.name_of(v) for v in artemis_dist.PINNED]
    assert names == ["artemis-2.31", "artemis-2.44", "artemis-2.56"]
    for v, name in zip(artemis_dist.PINNED, names, strict=True):
        recipe = images.get_recipe(name)
        assert recipe.suite == "bookworm" and recipe.packages == ("openjdk-17-jre-headless",)
        assert recipe.user == "artemis" and recipe.expose == (5672,)
        assert recipe.cmd == (f"{artemis_image.INSTANCE}/bin/artemis", "run")
        profile = PROFILES[name]
        assert profile.recipe == name and profile.convention == "bare"
        assert profile.capabilities == {DYNAMIC, ANONYMOUS_RELAY, RESTART}
        assert artemis_dist.PINNED[v].artifact_spec in recipe.setup
    assert len({images.get_recipe(n).digest() for n in names}) == 3


def test_results_record_the_images_profile(tmp_path: Path) -> None:
    b = ContainerProvider().create(f"container:{NEWEST}", str(tmp_path))
    assert isinstance(b, ContainerBroker)
    profile = b.describe()["profile"]
    assert profile == dict(artemis_image.PROFILE)
    assert profile["variant"] == "anycast" and profile["routing"] == "anycast"
    assert (
        "profile"
        not in ContainerProvider().create("container:rabbitmq-4.3", str(tmp_path)).describe()
    )


def test_the_setup_uses_the_providers_own_create_options_and_config_code() -> None:
    setup = artemis_image.setup_script(artemis_dist.NEWEST)
    for option in artemis_instance.CREATE_OPTIONS:
        assert option in setup
    source = (Path(artemis_image.__file__).with_name("artemis_xml.py")).read_text()
    assert source in setup  # the image is configured by the very code the local provider runs
    assert '"$root/var/lib/artemis/instance" 0.0.0.0 5672 anycast' in setup
    assert "/usr/share/man/man1" in " ".join(images.get_recipe(NEWEST).aptopts)


def _need_docker() -> None:
    reason = ContainerProvider().unavailable()
    if reason:
        require(f"container provider unavailable: {reason}")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerBroker]:
    """``container:artemis-2.56``; its image is built first if missing (about 6 min, then cached)."""
    _need_docker()
    b = ContainerProvider().create(f"container:{NEWEST}", str(tmp_path_factory.mktemp("artemis")))
    assert isinstance(b, ContainerBroker)
    try:
        b.start()
        yield b
    finally:
        b.stop()


def test_container_identity_and_anycast(broker: ContainerBroker) -> None:
    assert broker.identity.product == "apache-activemq-artemis"
    assert broker.identity.version == artemis_dist.NEWEST
    conn = BlockingConnection(broker.url(), timeout=10)
    try:
        conn.create_sender("c-q").send(Message(body="queued", durable=True))
        receiver = conn.create_receiver("c-q", credit=1)
        assert receiver.receive(timeout=10).body == "queued"
        receiver.accept()
        assert conn.create_receiver(None, dynamic=True).remote_source.address
    finally:
        conn.close()


def test_the_recorded_profile_is_what_the_images_broker_xml_says(broker: ContainerBroker) -> None:
    assert broker.container is not None
    path = f"{artemis_image.INSTANCE}/etc/broker.xml"
    code, out = broker.container.exec(["cat", path])
    assert code == 0, out
    read = artemis_xml.read_profile(out.decode("utf-8"))
    assert broker.describe()["profile"] == {"variant": "anycast", **read}


def test_container_restart_is_a_crash_that_keeps_messages(broker: ContainerBroker) -> None:
    assert_kept_across_restart(broker, "c-kept")
