"""The url: provider's routing probe against real Artemis instances: the stock profile is
multicast, the provider's default anycast, and a stock loss through url: gets its cause."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.brokers import routing_probe
from harness.brokers.artemis import ArtemisBroker
from harness.brokers.url import UrlBroker, UrlProvider
from harness.matrix.known import apply, load_registry
from harness.matrix.results import FAIL, XFAIL, CellResult
from tests.brokers.test_artemis import running

KNOWN = "artemis-stock-multicast-subscription-lost-on-reconnect"


def _through_url(local: ArtemisBroker) -> UrlBroker:
    b = UrlProvider().create(f"url:amqp://127.0.0.1:{local.port}", "")
    assert isinstance(b, UrlBroker)
    b.start(timeout=30)
    return b


@pytest.fixture(scope="module", params=["artemis:stock", "artemis"])
def local(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArtemisBroker]:
    with running(request.param, tmp_path_factory.mktemp("artemis")) as b:
        yield b


def test_the_url_provider_records_the_probed_routing(local: ArtemisBroker) -> None:
    expected = "multicast" if local.variant == "stock" else "anycast"
    assert local.describe()["profile"]["routing"] == expected  # what its broker.xml says
    b = _through_url(local)
    assert b.describe()["profile"] == {"routing": expected}
    assert b.identity.profile == {"routing": expected}


def test_a_subscription_loss_through_url_is_known_only_on_multicast(local: ArtemisBroker) -> None:
    b = _through_url(local)
    cell = CellResult(f"at-least-once-cut3-x-{b.name}", "at-least-once", "cut3", b.name, {}, FAIL)
    cell.roles = {"sender": "python", "receiver": "js"}
    msg = (
        f"broke 3.4 delivery state (broker ({b.name})): receiver (js) never got 3 ids: "
        "4, 5, 6; the broker accepted 3 of them from the sender and never transferred them "
        "to the receiver"
    )
    verdict, reason, known = apply(
        FAIL,
        f"[nothing-lost] {msg}",
        cell,
        b.identity,
        {},
        load_registry(),
        rules=["nothing-lost"],
        messages=[msg],
    )
    if local.variant == "stock":
        assert (verdict, known) == (XFAIL, KNOWN)
        assert "MULTICAST" in reason and "never got 3 ids: 4, 5, 6" in reason
    else:
        assert (verdict, known) == (FAIL, None)


def test_a_probe_of_a_closed_port_is_not_known_and_bounded(tmp_path: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert routing_probe.probe_routing("127.0.0.1", port, None, None, timeout=2.0) is None
