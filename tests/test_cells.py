"""Cell generation: which (scenario, fault, peers, broker) combinations run, and their ids.

Why: the same list feeds ``interop run``, ``--list``, shards and the pytest
plugin; a pair that is silently left out is an interop combination nobody
tests, and an id that changes between runs breaks ``compare`` and known
failures.
"""

from __future__ import annotations

import harness.scenarios as scenarios

from harness.cells import DIRECT, Cell, generate
from harness.fault_plans import NO_FAULTS, FaultPlan
from harness.peers import ALL_CAPABILITIES, Implementation, builtin
from harness.scenario import Role, Scenario


def impl(name: str, caps: set[str] | None = None, roles: set[str] | None = None) -> Implementation:
    kw: dict = {}
    if caps is not None:
        kw["capabilities"] = frozenset(caps)
    if roles is not None:
        kw["roles"] = frozenset(roles)
    return Implementation(name, command=["true"], **kw)


def _plan(name: str) -> FaultPlan:
    return FaultPlan(name, cuts=frozenset({"sender"}))


HELLO = Scenario("hello", "one role", roles=(Role("hello", "hello"),))
PAIR = Scenario(
    "pair",
    "two roles with faults",
    roles=(
        Role("sender", "send", needs=frozenset({"reconnect"})),
        Role("receiver", "receive", ready=True, needs=frozenset({"reconnect"})),
    ),
    faults=(NO_FAULTS, _plan("cut1"), _plan("cut3")),
)
DIRECT_SC = Scenario(
    "dir",
    "no broker",
    topology="direct",
    roles=(
        Role("sender", "send"),
        Role("receiver", "receive", listen=True, needs=frozenset({"listen"})),
    ),
)
RR = Scenario(
    "rr",
    "dynamic client",
    roles=(Role("client", "request", needs=frozenset({"dynamic"})), Role("server", "serve")),
)

PY, JS = impl("python"), impl("js")


def ids(cells: list[Cell]) -> list[str]:
    return [c.id for c in cells]


def test_one_role_scenario_runs_each_implementation_alone() -> None:
    cells = generate([HELLO], [PY, JS], ["embedded"])
    assert ids(cells) == ["hello-python-embedded", "hello-js-embedded"]
    assert cells[0].role_map == {"hello": "python"}
    assert cells[0].impls == ["python"]
    assert cells[0].fault is NO_FAULTS


def test_two_role_scenario_gets_every_ordered_pair() -> None:
    cells = generate([PAIR], [PY, JS], ["embedded"], faults=["none"])
    assert ids(cells) == [
        "pair-python->python-embedded",
        "pair-python->js-embedded",
        "pair-js->python-embedded",
        "pair-js->js-embedded",
    ]
    mixed = cells[1]
    assert mixed.roles == (("sender", "python"), ("receiver", "js"))
    assert mixed.role_map == {"sender": "python", "receiver": "js"}
    assert mixed.impls == ["js", "python"]


def test_every_broker_gets_its_cells_but_direct_appears_once_without_broker() -> None:
    cells = generate([HELLO, DIRECT_SC], [PY], ["embedded", "rabbitmq"])
    assert ids(cells) == [
        "hello-python-embedded",
        "hello-python-rabbitmq",
        "dir-python->python",
    ]
    assert cells[-1].broker == DIRECT == ""


def test_capabilities_filter_roles() -> None:
    """A peer that cannot listen is never the listener; one without reconnect skips the pair."""
    no_listen = impl("nolisten", caps=ALL_CAPABILITIES - {"listen"})
    no_reconnect = impl("norec", caps=ALL_CAPABILITIES - {"reconnect"})
    direct = generate([DIRECT_SC], [PY, no_listen], ["embedded"])
    assert ids(direct) == ["dir-python->python", "dir-nolisten->python"]
    pair = generate([PAIR], [PY, no_reconnect], ["embedded"], faults=["none"])
    assert ids(pair) == ["pair-python->python-embedded"]
    no_dynamic = impl("nodyn", caps={"listen", "reconnect"})
    assert ids(generate([RR], [no_dynamic], ["embedded"])) == []
    assert ids(generate([RR], [no_dynamic, PY], ["embedded"])) == [
        "rr-python->nodyn-embedded",
        "rr-python->python-embedded",
    ]


def test_roles_filter_pairs() -> None:
    """A handler peer that only receives appears only in the receiver slot."""
    receiver_only = impl("mine", roles={"receive"})
    cells = generate([PAIR, HELLO], [PY, receiver_only], ["embedded"], faults=["none"])
    assert ids(cells) == [
        "pair-python->python-embedded",
        "pair-python->mine-embedded",
        "hello-python-embedded",
    ]


def test_fault_selection() -> None:
    every = generate([PAIR], [PY], ["embedded"])
    assert ids(every) == [
        "pair-python->python-embedded",
        "pair-cut1-python->python-embedded",
        "pair-cut3-python->python-embedded",
    ]
    assert [c.fault.name for c in every] == ["none", "cut1", "cut3"]
    only = generate([PAIR, HELLO], [PY], ["embedded"], faults=["cut3"])
    assert ids(only) == ["pair-cut3-python->python-embedded"]  # hello has no cut3
    assert generate([PAIR], [PY], ["embedded"], faults=["nosuch"]) == []
    assert ids(generate([PAIR], [PY], ["embedded"], faults=[])) == ids(every)


def test_no_implementations_or_brokers_means_no_cells() -> None:
    assert generate([HELLO, PAIR], [], ["embedded"]) == []
    assert generate([HELLO], [PY], []) == []
    assert ids(generate([DIRECT_SC], [PY], [])) == ["dir-python->python"]


def test_real_scenarios_with_builtin_peers_have_unique_stable_ids() -> None:
    impls = list(builtin().values())
    chosen = list(scenarios.all_scenarios().values())
    cells = generate(chosen, impls, ["embedded", "url:amqp://127.0.0.1:5672"])
    assert len(ids(cells)) == len(set(ids(cells)))
    first = generate(chosen, impls, ["embedded"])
    again = generate(chosen, impls, ["embedded"])
    assert ids(first) == ids(again)
    assert "hello-world-python-embedded" in ids(first)
    assert "direct-python->js" in ids(first)
    assert "at-least-once-cut1-js->cpp-embedded" in ids(first)
    assert "request-response-cpp->python-embedded" in ids(first)
    direct = [c for c in cells if c.scenario.name == "direct"]
    sc = scenarios.select(["direct"])[0]
    n_roles = [len([i for i in impls if i.supports(r.peer_role, r.needs)]) for r in sc.roles]
    # every pair peer to peer (3 x 3 with python, cpp, js; listeners are fewer than senders)
    assert len(direct) == n_roles[0] * n_roles[1] and all(c.broker == DIRECT for c in direct)


# -- pair selection on real brokers ---------------------------------------------------


def test_cover_puts_every_implementation_in_every_role_with_n_pairs() -> None:
    impls = [impl(n) for n in ("python", "cpp", "js", "go", "pyamqp")]
    cells = generate([PAIR], impls, ["rabbitmq"], ["none"])
    senders = [dict(c.roles)["sender"] for c in cells]
    receivers = [dict(c.roles)["receiver"] for c in cells]
    assert sorted(senders) == sorted(receivers) == sorted(i.name for i in impls)
    assert len(cells) == 5 and all(s != r for s, r in zip(senders, receivers, strict=True))


def test_embedded_and_its_variants_get_every_pair_real_brokers_a_cover() -> None:
    impls = [PY, JS, impl("cpp")]
    for broker, n in (
        ("embedded", 9),
        ("embedded:presettled", 9),
        ("rabbitmq", 3),
        ("container:x", 3),
    ):
        cells = generate([PAIR], impls, [broker], ["none"])
        assert len(cells) == n, broker
    assert len(generate([PAIR], impls, ["rabbitmq"], ["none"], pairs="all")) == 9
    assert len(generate([PAIR], impls, ["embedded"], ["none"], pairs="cover")) == 3


def test_cover_with_uneven_roles_still_covers_both() -> None:
    # a receive-only handler peer: three senders, four receivers
    mine = impl("mine", roles={"receive"})
    cells = generate([PAIR], [PY, JS, impl("cpp"), mine], ["rabbitmq"], ["none"])
    assert {dict(c.roles)["sender"] for c in cells} == {"python", "js", "cpp"}
    assert {dict(c.roles)["receiver"] for c in cells} == {"python", "js", "cpp", "mine"}
