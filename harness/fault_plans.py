"""Fault plans: what a cell does to its connections, and what that allows.

A plan is one value that carries both halves: the rules the taps carry out
(made fresh for each cell, because rules count frames) and the expectations
that follow from them (which peers lose their connection and must
reconnect, whether the broker restarts, whether duplicates may arrive, how
long the first credit is held). Scenario checks ask the plan these
questions; they never branch on its name, so a new plan with the same
expectations needs no change in any check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.wire.faults import CutAfter, Rule

#: label -> rules for the tap in front of that peer, for a cell of ``count`` messages
RuleBuilder = Callable[[int], dict[str, list[Rule]]]


def _no_rules(count: int) -> dict[str, list[Rule]]:
    return {}


@dataclass(frozen=True)
class FaultPlan:
    """A named fault plan of a scenario.

    ``needs`` lists broker capabilities the plan relies on (``restart``):
    on a broker without them the cell is ``unsupported`` without running.
    ``cuts`` names the roles whose connection the plan cuts (they may have
    to reconnect), ``restarts_broker`` says the broker goes away mid-cell
    (every connection is lost), ``duplicates_allowed`` whether the receiver
    may see an id twice (at-least-once after a lost settlement), and
    ``credit_delay_s`` how long the broker's first credit is held back.
    """

    name: str
    description: str = ""
    rules: RuleBuilder = _no_rules
    needs: frozenset[str] = frozenset()
    cuts: frozenset[str] = frozenset()
    restarts_broker: bool = False
    duplicates_allowed: bool = False
    credit_delay_s: float = 0.0
    #: the tutorial's own dynamic source, without the capabilities a broker asks for
    #: (``Broker.dynamic_capabilities``, the peers' ``--dynamic-capability``)
    plain_dynamic: bool = False
    #: a plan about scale brings its own message count and timeout (``--count`` and
    #: ``--timeout`` still override them)
    count: int | None = None
    timeout: float | None = None

    @property
    def injects(self) -> bool:
        """Whether the plan disturbs the cell at all."""
        return bool(self.cuts) or self.restarts_broker or self.credit_delay_s > 0

    def loses_connection(self, label: str) -> bool:
        """Whether the peer playing ``label`` may lose its connection under this plan."""
        return self.restarts_broker or label in self.cuts

    def arm(self, count: int) -> ArmedPlan:
        """Fresh rules for one cell (rules keep counters, so they are never shared)."""
        return ArmedPlan(self, self.rules(count))


@dataclass
class ArmedPlan:
    """A plan's rules for one cell, each list for the tap in front of one labelled peer."""

    plan: FaultPlan
    rules: dict[str, list[Rule]] = field(default_factory=dict)

    def for_label(self, label: str) -> list[Rule]:
        return self.rules.get(label, [])

    def describe(self) -> str:
        parts = [str(r) for rules in self.rules.values() for r in rules]
        return "; ".join(parts) or "no faults"


NO_FAULTS = FaultPlan("none", "no faults")


def spread_cuts(count: int, cuts: int, sides: dict[str, str]) -> dict[str, list[Rule]]:
    """``cuts`` connection cuts spread evenly over a run of ``count`` transfers, sides taking turns.

    ``sides`` maps each peer label to the endpoint whose transfers its tap
    counts (``{"sender": "sender", "receiver": "broker"}``): cut *j* of
    ``cuts`` fires after transfer ``j * count / (cuts + 1)`` on the tap of
    side ``j mod len(sides)``. Counts run across reconnects, and resent or
    redelivered transfers count too, so every cut fires while work is left.
    Cuts that would land on the same transfer of one side are merged.
    """
    if cuts < 0 or count < 1 or not sides:
        raise ValueError("need count >= 1, cuts >= 0 and at least one side")
    labels = list(sides)
    out: dict[str, list[Rule]] = {label: [] for label in labels}
    marks: dict[str, set[int]] = {label: set() for label in labels}
    for j in range(1, cuts + 1):
        label = labels[(j - 1) % len(labels)]
        k = max(1, min(count, j * count // (cuts + 1)))
        if k not in marks[label]:
            marks[label].add(k)
            out[label].append(CutAfter("transfer", k, sides[label]))
    return {label: rules for label, rules in out.items() if rules}
