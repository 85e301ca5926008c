"""The ``artemis`` provider: specs, profiles, a real instance started, used, restarted, stopped,
and the one line each bad start gives (no Java, a corrupt download, a taken port, an invalid broker.xml)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from proton import Message
from proton.utils import BlockingConnection

from harness.brokers import artemis, artemis_dist, artemis_instance, artemis_template, registry
from harness.brokers.artemis import ArtemisBroker, ArtemisProvider, parse_spec
from harness.brokers.base import BrokerError, BrokerUnavailable
from harness.env import require
from tests.brokers.round_trip import assert_kept_across_restart

NEWEST = artemis_dist.NEWEST


def test_specs() -> None:
    assert parse_spec("artemis") == (NEWEST, "anycast")
    assert parse_spec("artemis:stock") == (NEWEST, "stock")
    assert parse_spec("artemis-2.31") == ("2.31.2", "anycast")
    assert parse_spec("artemis-2.44.0:stock") == ("2.44.0", "stock")
    for bad, why in (
        ("artemis-2.99", "no pinned Artemis version '2.99'"),
        ("artemis:odd", "unknown Artemis variant 'odd'"),
        ("artemisx", "expected artemis, artemis-VERSION"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_spec(bad)
        with pytest.raises(registry.UnknownBroker, match=why):
            registry.parse_specs(bad)
    assert registry.parse_specs("artemis-2.31,artemis-2.44,artemis") == [
        "artemis-2.31",
        "artemis-2.44",
        "artemis",
    ]


def test_no_java_is_unavailable_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrokerUnavailable) as e:
        registry.start("artemis", tmp_path / "work")
    assert str(e.value) == (
        "broker artemis unavailable: no Java found (java not on PATH or it does not run): "
        "apt-get install openjdk-17-jre-headless"
    )


def _need_java() -> None:
    reason = artemis_dist.java_problem(NEWEST)
    if reason:
        require(f"artemis provider unavailable: {reason}")


def test_corrupt_download_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need_java()
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "apache-artemis-bin.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(3000))

    def partial(coords: artemis_dist.Coordinates, out_dir: Path) -> Path:
        return bad

    monkeypatch.setattr(artemis_dist, "_mvn_copy", partial)
    with pytest.raises(BrokerError) as e:
        registry.start("artemis-2.44", tmp_path / "work")
    line = str(e.value)
    assert "\n" not in line
    assert line.startswith(f"broker artemis-2.44 did not start: {bad} is corrupt or partial")
    assert not artemis_dist.installed("2.44.0")  # nothing half-unpacked stays


def _need_artemis() -> None:
    reason = ArtemisProvider().unavailable()
    if reason:
        require(f"artemis provider unavailable: {reason}")


@contextlib.contextmanager
def running(spec: str, workdir: Path) -> Iterator[ArtemisBroker]:
    """A started instance of ``spec`` (skipped without Java), stopped afterwards."""
    _need_artemis()
    b = ArtemisProvider().create(spec, str(workdir))
    assert isinstance(b, ArtemisBroker)
    try:
        b.start()
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArtemisBroker]:
    """One instance of the newest version for the module: a JVM takes seconds to start."""
    with running("artemis", tmp_path_factory.mktemp("artemis")) as b:
        yield b


def test_identity_and_profile(broker: ArtemisBroker) -> None:
    d = broker.describe()
    assert (
        d["product"] == "apache-activemq-artemis"
    )  # unchanged by the rename, read from the open frame
    assert d["version"] == NEWEST
    assert d["coordinates"] == f"org.apache.artemis:apache-artemis:{NEWEST}:tar.gz:bin"
    assert d["profile"] == {
        "variant": "anycast",
        "routing": "anycast",
        "fsync": False,
        "journal": "MAPPED",
        "auto_delete_queues": False,
    }
    assert "ANONYMOUS-RELAY" in d["offered_capabilities"]


def test_a_bare_address_is_a_queue_and_a_dynamic_receiver_gets_an_address(
    broker: ArtemisBroker,
) -> None:
    conn = BlockingConnection(broker.url(), timeout=10)
    try:
        conn.create_sender("tq").send(Message(body="before any receiver", durable=True))
        receiver = conn.create_receiver("tq", credit=1)
        assert receiver.receive(timeout=10).body == "before any receiver"  # anycast keeps it
        receiver.accept()
        dynamic = conn.create_receiver(None, dynamic=True)
        assert dynamic.remote_source.address
    finally:
        conn.close()


def test_restart_keeps_port_and_messages(broker: ArtemisBroker) -> None:
    pid = broker.pids()
    assert_kept_across_restart(broker, "kept")
    assert broker.pids() and broker.pids() != pid


def test_port_taken_is_one_line_with_the_amq_code(tmp_path: Path) -> None:
    _need_artemis()
    b = ArtemisBroker("artemis", NEWEST, "anycast", str(tmp_path))
    with socket.socket() as s:
        b._prepare()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", b.port))
        s.listen()
        with pytest.raises(BrokerError) as e:
            b.start()
    line = str(e.value)
    assert "\n" not in line
    assert f"AMQ229230: Failed to bind acceptor amqp to 127.0.0.1:{b.port}" in line
    assert "(log: " in line and b.instance is None and b.pids() == []


def test_invalid_broker_xml_is_one_line_with_the_amq_code(tmp_path: Path) -> None:
    _need_artemis()
    b = ArtemisBroker("artemis", NEWEST, "anycast", str(tmp_path))
    b._prepare()
    assert b.instance is not None
    xml = artemis_instance.broker_xml(b.instance)
    xml.write_text(xml.read_text().replace("<journal-type>", "<no-such-element/><journal-type>"))
    with pytest.raises(BrokerError) as e:
        b.start()
    line = str(e.value)
    assert "AMQ214019: Invalid configuration (" in line and "no-such-element" in line
    log = line.rsplit("(log: ", 1)[1].rstrip(")")
    assert "AMQ214019" in Path(log).read_text()


def test_stop_removes_the_instance_and_the_jvm(tmp_path: Path) -> None:
    _need_artemis()
    b = registry.start("artemis:stock", tmp_path)
    assert isinstance(b, artemis.ArtemisBroker)
    instance, pids = b.instance, b.pids()
    assert b.describe()["profile"]["routing"] == "multicast"
    b.stop()
    b.stop()  # idempotent
    assert instance is not None and not instance.exists()
    assert pids and not any(os.path.exists(f"/proc/{p}") for p in pids)


def test_instances_copied_from_one_template_point_at_themselves(tmp_path: Path) -> None:
    _need_artemis()
    first = ArtemisBroker("artemis", NEWEST, "anycast", str(tmp_path / "a"))
    second = ArtemisBroker("artemis", NEWEST, "anycast", str(tmp_path / "b"))
    for b in (first, second):
        b._prepare()
    template_root = str(artemis_dist.root() / NEWEST / "templates")
    for b in (first, second):
        assert b.instance is not None
        for rel in artemis_template.PATH_FILES:
            text = (b.instance / rel).read_text()
            assert str(b.instance) in text and template_root not in text, rel
        assert not any((b.instance / "data").iterdir())  # a node id of its own at first start
    assert first.port != second.port
    xml = {b.port: artemis_instance.broker_xml(b.instance).read_text() for b in (first, second)}  # type: ignore[arg-type]
    for port, text in xml.items():
        assert f"tcp://127.0.0.1:{port}?" in text


def test_artemis_known_by_its_open_frame_gets_bare_addresses_and_plain_dynamic_sources() -> None:
    from harness.brokers import fingerprints
    from harness.brokers.base import BrokerIdentity

    for version in artemis_dist.PINNED:
        identity = BrokerIdentity(product="apache-activemq-artemis", version=version)
        found = fingerprints.lookup(identity)
        assert found is not None and found.dynamic_capabilities == ()
        assert fingerprints.convention_for(identity).address_for("q") == "q"


def test_fetch_command_also_makes_both_profiles_templates() -> None:
    _need_artemis()
    assert artemis_dist.main(["fetch", NEWEST]) == 0
    made = sorted(
        p.name.split("-")[0]
        for p in (artemis_dist.root() / NEWEST / "templates").iterdir()
        if not p.name.startswith(".")
    )
    assert {"anycast", "stock"} <= set(made)
