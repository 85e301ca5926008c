"""The shipped known failures for Artemis: what they cover, and what they must not hide."""

from __future__ import annotations

from harness.matrix.known import apply, load_registry
from harness.matrix.results import FAIL, XFAIL, CellResult

ARTEMIS = {"product": "apache-activemq-artemis", "version": "2.56.0"}
#: the identity's profile: the provider's (broker.xml) or the url: provider's routing probe
STOCK = {**ARTEMIS, "profile": {"variant": "stock", "routing": "multicast"}}
ANYCAST = {**ARTEMIS, "profile": {"variant": "anycast", "routing": "anycast"}}
LOST = (
    "broke 3.4 delivery state (broker ({broker})): receiver (python) never got 500 ids: "
    "501, 502 ...; the broker accepted 500 of them from the sender and never transferred "
    "them to the receiver"
)
TIMEOUT = "receiver (python) timed out waiting for message 501 of 1000 on at-least-once-1"


def _cell(broker: str, scenario: str = "at-least-once", roles: dict | None = None) -> CellResult:
    roles = roles or {"sender": "python", "receiver": "python"}
    return CellResult(f"{scenario}-x-{broker}", scenario, "settle", broker, roles, FAIL)


def _judge(
    cell: CellResult, messages: list[str], rules: list[str], identity: dict = ARTEMIS
) -> tuple[str, str, str | None]:
    reason = f"[{rules[0]}] {messages[0]}"
    return apply(FAIL, reason, cell, identity, {}, load_registry(), rules=rules, messages=messages)


def test_stock_subscription_loss_names_its_cause_and_keeps_the_ids() -> None:
    for broker in ("artemis:stock", "artemis-2.44:stock", "url:amqp://127.0.0.1:5672"):
        msg = LOST.format(broker=broker)
        verdict, reason, known = _judge(
            _cell(broker), [msg, TIMEOUT], ["nothing-lost", "peer-timeout"], STOCK
        )
        assert (verdict, known) == (XFAIL, "artemis-stock-multicast-subscription-lost-on-reconnect")
        assert "MULTICAST" in reason and "receiver reconnected" in reason
        assert "never got 500 ids: 501, 502" in reason  # the ids that never arrived


def test_a_loss_on_the_anycast_profile_stays_a_failure() -> None:
    for broker, identity in (("artemis", ANYCAST), ("artemis:stock", ARTEMIS)):
        # the profile decides, not the name: no routing known is no known cause
        msg = LOST.format(broker=broker)
        cell = _cell(broker)
        rules = ["nothing-lost", "peer-timeout"]
        verdict, _, known = _judge(cell, [msg, TIMEOUT], rules, identity)
        assert (verdict, known) == (FAIL, None)


def test_a_stock_failure_of_another_rule_is_not_hidden() -> None:
    msg = LOST.format(broker="artemis:stock")
    verdict, _, _ = _judge(_cell("artemis:stock"), [msg], ["nothing-lost", "credit"], STOCK)
    assert verdict == FAIL


def test_pyamqp_server_relay_link_on_artemis() -> None:
    cell = _cell("artemis", "request-response", {"client": "go", "server": "pyamqp"})
    msg = (
        "the library dropped link serve-replies: the remote's attach answer has no source or "
        "no target, which azure-servicebus _pyamqp treats as a refusal"
    )
    verdict, reason, known = _judge(cell, [msg], ["reply-correlation"])
    assert (verdict, known) == (XFAIL, "pyamqp-relay-target-echoed-by-artemis")
    assert "anonymous relay" in reason
    other = _cell("artemis", "request-response", {"client": "pyamqp", "server": "go"})
    assert _judge(other, [msg], ["reply-correlation"])[0] == FAIL


def test_a_stock_loss_the_receiver_made_is_not_hidden() -> None:
    msg = (
        "broke 3.4 delivery state (receiver (python)): receiver (python) never got 500 ids: "
        "501, 502 ...; 500 of them were transferred to the receiver, which did not count them"
    )
    verdict, _, _ = _judge(_cell("artemis:stock"), [msg], ["nothing-lost"], STOCK)
    assert verdict == FAIL
