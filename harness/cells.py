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


def generate(
    scenarios: Iterable[Scenario],
    impls: Iterable[Implementation],
    brokers: Iterable[str],
    faults: Iterable[str] | None = None,
) -> list[Cell]:
    """Every cell for these scenarios, implementations and brokers.

    Two-party scenarios get every ordered pair of implementations that can
    play the two roles; one-role scenarios get each implementation alone.
    Direct scenarios need no broker and appear once. Implementations that
    cannot play a role (a handler peer that only receives) are left out of
    the pairs that need it.
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
            for plan in plans:
                for combo in itertools.product(*choices):
                    roles = tuple((r.label, impl) for r, impl in zip(sc.roles, combo, strict=True))
                    cells.append(Cell(sc, plan, roles, broker))
    return cells
