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
PAIR_MODES = (ALL_PAIRS, COVER_PAIRS)


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


def cover(choices: list[list[str]]) -> list[tuple[str, ...]]:
    """Combinations in which every implementation plays every role it can, each at least once.

    Role lists are walked together, the second shifted by one, so that with
    two or more implementations nobody is paired with itself: ``a->b, b->c,
    c->a``. One-role scenarios are every implementation alone, as with ``all``.
    """
    if any(not c for c in choices):
        return []
    if len(choices) == 1:
        return [(name,) for name in choices[0]]
    n = max(len(c) for c in choices)
    combos: list[tuple[str, ...]] = []
    for i in range(n):
        combo = tuple(c[(i + k) % len(c)] for k, c in enumerate(choices))
        if combo not in combos:
            combos.append(combo)
    return combos


def generate(
    scenarios: Iterable[Scenario],
    impls: Iterable[Implementation],
    brokers: Iterable[str],
    faults: Iterable[str] | None = None,
    pairs: str | None = None,
) -> list[Cell]:
    """Every cell for these scenarios, implementations and brokers.

    Two-party scenarios get every ordered pair of implementations that can
    play the two roles (or, on a real broker, a cover: see ``pair_mode_for``);
    one-role scenarios get each implementation alone. Direct scenarios need
    no broker and appear once. Implementations that cannot play a role (a
    handler peer that only receives) are left out of the pairs that need it.
    """
    impls = list(impls)
    brokers = list(brokers)
    wanted_faults = set(faults) if faults else None
    cells: list[Cell] = []
    for sc in scenarios:
        choices = []
        for role in sc.roles:
            choices.append([i.name for i in impls if i.supports(role.peer_role, role.needs)])
        plans = [f for f in sc.faults if wanted_faults is None or f.name in wanted_faults]
        targets = [DIRECT] if sc.topology == "direct" else brokers
        for broker in targets:
            mode = pair_mode_for(broker, pairs)
            combos = list(itertools.product(*choices)) if mode == ALL_PAIRS else cover(choices)
            for plan in plans:
                for combo in combos:
                    roles = tuple((r.label, impl) for r, impl in zip(sc.roles, combo, strict=True))
                    cells.append(Cell(sc, plan, roles, broker))
    return cells
