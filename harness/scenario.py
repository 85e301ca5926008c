"""What a scenario module declares, and what its checks are shown.

A scenario (one module in scenarios/) says which roles run and in which
order, who listens, with which parameters, under which fault plans, and
which handshake, flow and outcome the cell must show. The runner does the
rest, so a new scenario is one new module that builds a ``Scenario``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.fault_plans import NO_FAULTS, FaultPlan
from harness.trace.model import PEER, TraceEvent
from harness.trace.rules.base import Violation


@dataclass(frozen=True)
class Role:
    """One party of a scenario.

    ``label`` names it in traces ("sender"); ``peer_role`` is the contract
    role the peer program runs ("send"); ``ready`` makes the runner wait for
    the peer's ready line before starting the next role; ``listen`` makes it
    the listening side of a direct (brokerless) scenario.
    """

    label: str
    peer_role: str
    listen: bool = False
    ready: bool = False
    needs: frozenset[str] = frozenset()
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failure:
    """A broken rule: ``rule`` is a stable id, ``message`` one line a person can check in the trace."""

    rule: str
    message: str
    detail: str = ""  # multi-line explanation (a pattern's explain()), kept in the artifacts


@dataclass
class PeerRun:
    """What one peer did in a cell."""

    label: str
    impl: str
    argv: list[str]
    exit_code: int | None
    result: dict[str, Any] | None
    lines: list[tuple[float, dict[str, Any]]]
    stderr_tail: str = ""
    killed: bool = False  # the runner had to kill it (cell deadline)
    stopped: bool = False  # the runner stopped it early because another peer had failed

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [
            o
            for _, o in self.lines
            if o.get("kind") == "event" and (name is None or o.get("name") == name)
        ]


@dataclass
class CellRun:
    """Everything a scenario's checks may look at once the cell has finished."""

    scenario: Scenario
    plan: FaultPlan
    count: int
    address: str
    roles: dict[str, str]  # label -> implementation name
    peers: dict[str, PeerRun]
    trace: Sequence[TraceEvent]
    broker: dict[str, Any] | None
    #: what patterns and most checks read: the trace itself, or for a long trace on disk
    #: its story (harness.trace.story: every event but routine frames, and a sample of those)
    story: Sequence[TraceEvent] = ()
    #: how many frames the whole trace has (None: count them in ``trace``)
    frames: int | None = None
    #: the invariants' verdicts when already found (harness.read_once); None: check ``trace``
    violations: list[Violation] | None = None

    def __post_init__(self) -> None:
        if not self.story:
            self.story = self.trace

    @property
    def fault(self) -> str:
        """The plan's name, for messages; checks ask the plan itself what it allows."""
        return self.plan.name

    def peer_events(self, label: str, name: str | None = None) -> list[TraceEvent]:
        return [
            e
            for e in self.story  # every peer event is in the story
            if e.kind == PEER and e.src == label and (name is None or e.name == name)
        ]

    def result(self, label: str) -> dict[str, Any]:
        peer = self.peers.get(label)
        return (peer.result if peer is not None else None) or {}


Check = Callable[[CellRun], list[Failure]]


@dataclass(frozen=True)
class Scenario:
    """A protocol story and what the trace must show for it."""

    name: str
    description: str
    roles: tuple[Role, ...]
    topology: str = "broker"  # or "direct"
    count: int = 10
    #: whether ``--count`` may change it (not where the count is fixed by the story:
    #: one hello, one reply per request line)
    scalable_count: bool = True
    timeout: float = 30.0
    #: broker capabilities the story needs (``dynamic``...): on a broker that lacks
    #: one the cell is ``unsupported`` without running
    broker_needs: frozenset[str] = frozenset()
    faults: tuple[FaultPlan, ...] = (NO_FAULTS,)
    #: plans that run only when named with ``--fault`` (a 100,000-message run)
    opt_in_faults: tuple[FaultPlan, ...] = ()
    checks: tuple[Check, ...] = ()
    skip_invariants: frozenset[str] = frozenset()
    #: invariants beyond the protocol's defaults that the suite holds peers to:
    #: a clean shutdown detaches links before the close (the tutorial skips it)
    extra_invariants: frozenset[str] = frozenset({"detach-before-close"})
    #: two-party scenarios pair every implementation with every other; one-role
    #: scenarios run each implementation alone
    marker: str = ""
    #: plans that recast the roles (direct's ``sender-listens``: the other side
    #: listens): plan name -> the roles its cells run, same labels, in place of ``roles``
    plan_roles: tuple[tuple[str, tuple[Role, ...]], ...] = ()

    def __post_init__(self) -> None:
        if self.topology not in ("broker", "direct"):
            raise ValueError(f"scenario {self.name}: topology must be broker or direct")
        if self.topology == "direct" and not any(r.listen for r in self.roles):
            raise ValueError(f"scenario {self.name}: a direct scenario needs a listening role")
        labels = [r.label for r in self.roles]
        plans = {f.name for f in self.every_fault}
        for plan, roles in self.plan_roles:
            if plan not in plans:
                raise ValueError(f"scenario {self.name}: roles for unknown plan {plan!r}")
            if [r.label for r in roles] != labels:  # checks and known failures name labels
                raise ValueError(f"scenario {self.name}: plan {plan!r} must keep roles {labels}")
            if self.topology == "direct" and not any(r.listen for r in roles):
                raise ValueError(f"scenario {self.name}: plan {plan!r} needs a listening role")

    @property
    def mark(self) -> str:
        return self.marker or self.name.replace("-", "_")

    @property
    def every_fault(self) -> tuple[FaultPlan, ...]:
        """The plans ``--fault`` may name: the default ones, then the opt-in ones."""
        return (*self.faults, *self.opt_in_faults)

    def for_plan(self, plan: FaultPlan) -> Scenario:
        """The scenario as its cells under ``plan`` run it: with the roles the plan recasts.

        Why a whole scenario: the pipeline, the drive stage and the checks all read
        ``cell.scenario.roles`` (who listens, who connects), so a plan that swaps the
        listener needs no branch anywhere else.
        """
        for name, roles in self.plan_roles:
            if name == plan.name:
                return replace(self, roles=roles)
        return self

    def fault(self, name: str) -> FaultPlan:
        for f in self.every_fault:
            if f.name == name:
                return f
        known = ", ".join(f.name for f in self.every_fault)
        raise KeyError(f"scenario {self.name} has no fault plan {name!r} (known: {known})")
