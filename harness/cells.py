"""Cells: scenario x fault plan x peer assignment x broker, and how to list them.

The same list feeds ``interop run`` and the pytest plugin, so a cell id
means the same thing in a matrix, a pytest node id and an artifact folder.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from harness.fault_plans import FaultPlan
from harness.matrix.results import cell_id
from harness.peers import Implementation
from harness.scenario import Scenario

#: the broker name of brokerless (direct) cells in the matrix
DIRECT = ""


@dataclass(frozen=True)
class Cell:
    scenario: Scenario
    fault: FaultPlan
    roles: tuple[tuple[str, str], ...]  # (label, implementation) in the scenario's role order
    broker: str  # provider spec, or DIRECT

    @property
    def id(self) -> str:
        return cell_id(self.scenario.name, self.fault.name, dict(self.roles), self.broker or None)

    @property
    def role_map(self) -> dict[str, str]:
        return dict(self.roles)

    @property
    def impls(self) -> list[str]:
        return sorted({impl for _, impl in self.roles})


#: every ordered pair of implementations
ALL_PAIRS = "all"
#: a few pairs that still put every implementation in every role (real brokers)
COVER_PAIRS = "cover"
#: each implementation with itself
SELF_PAIRS = "self"
#: ``with:IMPL``: every ordered pair that involves IMPL, itself included
WITH_PREFIX = "with:"
#: the modes as ``--pairs`` help and errors list them
PAIR_MODES = (ALL_PAIRS, f"{WITH_PREFIX}IMPL", SELF_PAIRS, COVER_PAIRS)


def parse_pairs(text: str) -> str:
    """Check a ``--pairs`` value; ``ValueError`` (one line) for anything else."""
    if text in (ALL_PAIRS, COVER_PAIRS, SELF_PAIRS):
        return text
    if text.startswith(WITH_PREFIX) and text[len(WITH_PREFIX) :].strip():
        return WITH_PREFIX + text[len(WITH_PREFIX) :].strip()
    raise ValueError(f"bad --pairs {text!r} (known: {', '.join(PAIR_MODES)})")


def with_impl(mode: str) -> str | None:
    """The IMPL of ``with:IMPL``, None for the other modes."""
    return mode[len(WITH_PREFIX) :] if mode.startswith(WITH_PREFIX) else None


def pair_mode_for(broker: str, mode: str | None) -> str:
    """``all`` on the embedded broker (and its variants) and peer to peer; ``cover`` elsewhere.

    A real broker takes seconds to minutes per matrix of n² pairs per fault
    plan; the cover keeps every implementation in every role against it with
    n pairs, so adding an implementation costs each real broker a few cells,
    not a row of them. ``mode`` (``--pairs``) overrides.
    """
    if mode is not None:
        return mode
    return ALL_PAIRS if broker == DIRECT or broker.split(":", 1)[0] == "embedded" else COVER_PAIRS


def combos(mode: str, choices: list[list[str]]) -> list[tuple[str, ...]]:
    """The peer combinations (one implementation per role, role order) a pair mode picks.

    ``choices`` lists, per role, the implementations that can play it. A
    one-role scenario is every implementation alone under ``all`` and
    ``cover``; under ``self`` too (each is with itself); under ``with:IMPL``
    it is IMPL alone.
    """
    product = list(itertools.product(*choices))
    if mode == ALL_PAIRS:
        return product
    if mode == COVER_PAIRS:
        return cover(choices)
    if mode == SELF_PAIRS:
        return [c for c in product if len(set(c)) == 1]
    impl = with_impl(mode)
    if impl is None:
        raise ValueError(f"bad pair mode {mode!r}")
    return [c for c in product if impl in c]


def cover(choices: list[list[str]]) -> list[tuple[str, ...]]:
    """Combinations in which every implementation plays every role it can against another.

    First a ring, role lists walked together with each one shifted by its
    index, so that with equal lists nobody is paired with itself: ``a->b,
    b->c, c->a`` (n combinations for n implementations, the fewest possible).
    Uneven lists (only some implementations listen, a handler peer only
    receives) can leave an implementation in a role only against itself or
    not at all: each such gap gets one more combination, the first that
    fills the most gaps with someone else in the other roles; with itself
    only when nobody else can play the other roles. One-role scenarios are
    every implementation alone, as with ``all``.
    """
    if any(not c for c in choices):
        return []
    if len(choices) == 1:
        return [(name,) for name in choices[0]]
    n = max(len(c) for c in choices)
    picked: list[tuple[str, ...]] = []
    for i in range(n):
        combo = tuple(c[(i + k) % len(c)] for k, c in enumerate(choices))
        if len(set(combo)) > 1 and combo not in picked:
            picked.append(combo)
    product = list(itertools.product(*choices))
    for role, column in enumerate(choices):
        for name in column:
            if (role, name) in _covered(picked) or (name,) * len(choices) in picked:
                continue
            gaps = {(r, i) for r, col in enumerate(choices) for i in col} - _covered(picked)
            fills = [c for c in product if c[role] == name and len(set(c)) > 1]
            if fills:
                picked.append(max(fills, key=lambda c: len(_covered([c]) & gaps)))
            else:  # nobody else plays the other roles: with itself, as under ``all``
                picked.append(next(c for c in product if c[role] == name))
    return picked


def _covered(combos: list[tuple[str, ...]]) -> set[tuple[int, str]]:
    """(role index, implementation) pairs played against someone else in ``combos``."""
    return {(r, i) for c in combos for r, i in enumerate(c) if any(o != i for o in c)}


def generate(
    scenarios: Iterable[Scenario],
    impls: Iterable[Implementation],
    brokers: Iterable[str],
    faults: Iterable[str] | None = None,
    pairs: str | None = None,
) -> list[Cell]:
    """Every cell for these scenarios, implementations and brokers.

    Two-party scenarios get the ordered pairs of implementations that can
    play the two roles that ``pairs`` picks (default: every pair, or on a
    real broker a cover: see ``pair_mode_for`` and ``combos``);
    one-role scenarios get each implementation alone. Direct scenarios need
    no broker and appear once. A plan that recasts the roles
    (``Scenario.plan_roles``) pairs those who can play its roles. Implementations that cannot play a role (a
    handler peer that only receives) are left out of the pairs that need it.
    """
    impls = list(impls)
    brokers = list(brokers)
    wanted_faults = set(faults) if faults else None
    cells: list[Cell] = []
    for base in scenarios:
        if wanted_faults is None:
            plans = list(base.faults)  # opt-in plans run only when named
        else:
            plans = [f for f in base.every_fault if f.name in wanted_faults]
        targets = [DIRECT] if base.topology == "direct" else brokers
        for broker in targets:
            for plan in plans:
                sc = base.for_plan(plan)  # a plan may recast who listens
                choices = [
                    [i.name for i in impls if i.supports(role.peer_role, role.needs)]
                    for role in sc.roles
                ]
                for combo in combos(pair_mode_for(broker, pairs), choices):
                    roles = tuple((r.label, impl) for r, impl in zip(sc.roles, combo, strict=True))
                    cells.append(Cell(sc, plan, roles, broker))
    return cells
