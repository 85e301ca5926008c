"""``container:rabbitmq-4.0``: RabbitMQ 4.0 from Debian trixie in an image built here.

Why: RabbitMQ 4 is where AMQP 1.0 became a core protocol and the broker most
users point the suite at. What differs from 3.10 is checked here against the
real broker: address v2 with queues declared through ``/management`` (whose
replies come pre-settled), a restart keeping durable messages, a dynamic
source refused at broker set-up with the wire's own words, and a config that
4.0 rejects (3.10's ``amqp1_0.*`` keys) failing fast with the log line that
says why.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import harness.scenarios as scenarios
import pytest

from harness import images, pipeline
from harness.brokers import rabbitmq_config
from harness.brokers.base import BrokerError
from harness.brokers.container import ContainerBroker, ContainerProvider
from harness.brokers.profiles import PROFILES
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART
from harness.cell_state import RunOptions
from harness.cells import generate
from harness.env import require
from harness.matrix.known import KnownFailures, load_registry
from harness.matrix.results import FAIL, UNSUPPORTED
from harness.peers import PeerRegistry
from tests.brokers.round_trip import assert_kept_across_restart

SPEC = "container:rabbitmq-4.0"


def _need_docker() -> None:
    reason = ContainerProvider().unavailable()
    if reason:
        require(f"container provider unavailable: {reason}")


@pytest.fixture(scope="module")
def image() -> str:
    """Builds the image once (about 30 s; cached by recipe hash afterwards)."""
    _need_docker()
    return images.build("rabbitmq-4.0")


@pytest.fixture(scope="module")
def broker(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerBroker]:
    b = ContainerProvider().create(SPEC, str(tmp_path_factory.mktemp("rabbitmq40")))
    assert isinstance(b, ContainerBroker)
    try:
        b.start()
        yield b
    finally:
        b.stop()


def _booting(config_version: str, tmp_path: Path) -> ContainerBroker:
    """The 4.0 image started with the config the local provider writes for ``config_version``."""
    files = rabbitmq_config.config_files(config_version, "0.0.0.0:5672")
    script = (
        'printf "%s" "$INTEROP_CONF" > /tmp/rabbitmq.conf'
        ' && printf "%s" "$INTEROP_PLUGINS" > /tmp/enabled_plugins'
        " && RABBITMQ_CONFIG_FILE=/tmp/rabbitmq.conf"
        " RABBITMQ_ENABLED_PLUGINS_FILE=/tmp/enabled_plugins"
        " exec /usr/lib/rabbitmq/bin/rabbitmq-server"
    )
    profile = dataclasses.replace(
        PROFILES["rabbitmq-4.0"],
        env=(
            ("INTEROP_CONF", files["rabbitmq.conf"]),
            ("INTEROP_PLUGINS", files["enabled_plugins"]),
        ),
        command=("sh", "-c", script),
    )
    return ContainerBroker(SPEC, profile, str(tmp_path))


@pytest.mark.slow
def test_identity_and_offered_relay(broker: ContainerBroker) -> None:
    assert broker.identity.product == "RabbitMQ"
    assert broker.identity.version.startswith("4.0.")
    assert "ANONYMOUS-RELAY" in broker.identity.offered_capabilities
    assert broker.capabilities == {RESTART, ANONYMOUS_RELAY}
    assert broker.start_seconds is not None and broker.start_seconds < 30


@pytest.mark.slow
def test_queues_are_declared_by_management_and_survive_a_restart(broker: ContainerBroker) -> None:
    """The /management reply comes pre-settled: declaring must not try to settle it again."""
    address = broker.address("q40")
    assert address == "/queues/q40"
    assert_kept_across_restart(broker, address)


def _request_response_cell():
    reg = PeerRegistry()
    cells = generate(scenarios.select(["request-response"]), [reg.get("python")], [SPEC])
    return reg, cells[0]


@pytest.mark.slow
def test_dynamic_source_is_unsupported_at_once_with_the_brokers_words(
    broker: ContainerBroker, tmp_path: Path
) -> None:
    reg, cell = _request_response_cell()
    res = pipeline.run_cell(cell, broker, reg, RunOptions(tmp_path, known=load_registry()))
    assert res.verdict == UNSUPPORTED
    assert res.duration_s < 2.0  # no peer started, no timeout spent
    assert 'amqp:not-implemented "Dynamic sources not supported"' in res.reason
    assert res.known == "rabbitmq-dynamic-source-refused"
    assert not list((tmp_path / res.artifacts).glob("*.stderr.txt"))


@pytest.mark.slow
def test_a_refusal_known_only_at_run_time_heads_the_reason(
    broker: ContainerBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claimed but refused (a broker known only by its answer): the headline quotes the answer."""
    monkeypatch.setattr(broker, "capabilities", broker.capabilities | {DYNAMIC})
    reg, cell = _request_response_cell()
    res = pipeline.run_cell(
        cell, broker, reg, RunOptions(tmp_path, timeout=6.0, known=KnownFailures([]))
    )
    assert res.verdict == FAIL
    head = res.reason.split("] ", 1)[1]
    assert head.startswith(
        "broker ended the session instead of answering client's attach (dynamic source): "
        'amqp:not-implemented "Dynamic sources not supported"'
    ), res.reason


@pytest.mark.slow
def test_the_local_providers_4x_config_boots_40(image: str, tmp_path: Path) -> None:
    b = _booting("4.0.5", tmp_path)
    try:
        b.start()
        assert b.identity.version.startswith("4.0.")
    finally:
        b.stop()


@pytest.mark.slow
def test_310s_config_fails_fast_with_the_line_that_says_why(
    image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTEROP_CACHE", str(tmp_path / "cache"))
    b = _booting("3.10.8", tmp_path)
    started = time.monotonic()
    with pytest.raises(BrokerError) as info:
        b.start()
    assert time.monotonic() - started < 45
    message = str(info.value)
    assert "\n" not in message
    assert "exited (status" in message
    assert "You've tried to set amqp1_0.default_user, but there is no setting" in message
    kept = Path(message.rsplit("(log: ", 1)[1].rstrip(")"))
    assert kept.parent == tmp_path / "cache" / "broker-logs"
    assert "amqp1_0.default_user" in kept.read_text()
