"""Cell generation: which (scenario, fault, peers, broker) combinations run, and their ids.

Why: the same list feeds ``interop run``, ``--list``, shards and the pytest
plugin; a pair that is silently left out is an interop combination nobody
tests, and an id that changes between runs breaks ``compare`` and known
failures.
"""

from __future__ import annotations

import harness.scenarios as scenarios

from harness.cells import DIRECT, Cell, cover, generate, parse_pairs
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
    sc = scenarios.select(["direct"])[0]
    for plan in sc.faults:  # the receiver listens (none), the sender listens (sender-listens)
        direct = [c for c in cells if c.scenario.name == "direct" and c.fault == plan]
        roles = sc.for_plan(plan).roles
        n_roles = [len([i for i in impls if i.supports(r.peer_role, r.needs)]) for r in roles]
        # every connector with every listener (listeners are fewer than connectors)
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


# -- pair modes: all, with:IMPL, self, cover ------------------------------------------

CPP = impl("cpp")


def test_parse_pairs_knows_four_modes_and_says_so() -> None:
    for good in ("all", "self", "cover", "with:java"):
        assert parse_pairs(good) == good
    assert parse_pairs("with: rust ") == "with:rust"
    for bad in ("every", "with:", "with", "ALL", ""):
        try:
            parse_pairs(bad)
        except ValueError as e:
            assert str(e) == f"bad --pairs {bad!r} (known: all, with:IMPL, self, cover)"
        else:
            raise AssertionError(f"{bad!r} accepted")


def test_self_pairs_each_implementation_with_itself() -> None:
    cells = generate([PAIR, HELLO], [PY, JS, CPP], ["rabbitmq"], ["none"], pairs="self")
    assert ids(cells) == [
        "pair-python->python-rabbitmq",
        "pair-js->js-rabbitmq",
        "pair-cpp->cpp-rabbitmq",
        "hello-python-rabbitmq",
        "hello-js-rabbitmq",
        "hello-cpp-rabbitmq",
    ]


def test_with_impl_is_every_ordered_pair_involving_it_itself_included() -> None:
    cells = generate([PAIR, HELLO], [PY, JS, CPP], ["embedded"], ["none"], pairs="with:js")
    assert ids(cells) == [
        "pair-python->js-embedded",
        "pair-js->python-embedded",
        "pair-js->js-embedded",
        "pair-js->cpp-embedded",
        "pair-cpp->js-embedded",
        "hello-js-embedded",
    ]
    # a client-only IMPL is never the listener, but connects to every listener
    client = impl("client", caps=ALL_CAPABILITIES - {"listen"})
    direct = generate([DIRECT_SC], [PY, client, CPP], [], pairs="with:client")
    assert ids(direct) == ["dir-client->python", "dir-client->cpp"]


def _played_against_another(cells: list[Cell]) -> set[tuple[str, str]]:
    return {
        (label, name)
        for c in cells
        for label, name in c.roles
        if any(other != name for _, other in c.roles)
    }


def test_cover_gives_listeners_their_role_against_another() -> None:
    """Five connect, three listen: five pairs, every role of everyone against someone else."""
    clients = [impl(n, caps=ALL_CAPABILITIES - {"listen"}) for n in ("go", "pyamqp")]
    impls = [PY, CPP, JS, *clients]
    cells = generate([DIRECT_SC], impls, [], pairs="cover")
    assert ids(cells) == [
        "dir-python->cpp",
        "dir-cpp->js",
        "dir-js->python",
        "dir-go->cpp",
        "dir-pyamqp->js",
    ]
    want = {("sender", i.name) for i in impls} | {("receiver", n) for n in ("python", "cpp", "js")}
    assert _played_against_another(cells) == want


def test_cover_fills_what_a_ring_misses_and_pairs_itself_only_when_alone() -> None:
    # a ring over [a, b] x [b] gives a->b and b->b; b as sender has nobody else to send to
    only_b = impl("b")
    a = impl("a", roles={"send"})
    cells = generate([PAIR], [a, only_b], ["rabbitmq"], ["none"])
    assert ids(cells) == ["pair-a->b-rabbitmq", "pair-b->b-rabbitmq"]
    # a receive-only peer listed first: the ring leaves python's receiver role to a gap fill
    mine = impl("mine", roles={"receive"})
    cells = generate([PAIR], [mine, PY, JS], ["rabbitmq"], ["none"])
    assert _played_against_another(cells) == {
        ("sender", "python"),
        ("sender", "js"),
        ("receiver", "mine"),
        ("receiver", "python"),
        ("receiver", "js"),
    }
    assert len(cells) == 3


def test_cover_against_another_for_every_shape_of_role_lists() -> None:
    """Every split of five implementations into who-sends and who-receives."""
    names = ["a", "b", "c", "d", "e"]
    for send_mask in range(1, 32):
        for recv_mask in range(1, 32):
            senders = [n for i, n in enumerate(names) if send_mask >> i & 1]
            receivers = [n for i, n in enumerate(names) if recv_mask >> i & 1]
            picked = cover([senders, receivers])
            assert len(picked) == len(set(picked)) <= len(senders) * len(receivers)
            for role, column, others in ((0, senders, receivers), (1, receivers, senders)):
                for name in column:
                    mine = [c for c in picked if c[role] == name]
                    assert mine, (senders, receivers, name)
                    if any(o != name for o in others):
                        assert any(len(set(c)) > 1 for c in mine), (senders, receivers, name)
            assert len(picked) <= len(senders) + len(receivers)
