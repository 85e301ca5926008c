"""The vocabulary of sequence patterns: steps, ``never``, ``any_order``, Pattern, Forbid.

A scenario writes the handshake it expects with these builders
(``frame("attach", src="hello", role="receiver")``, ``never(...)``,
``any_order(...)``) and wraps them in a :class:`Pattern` (ordered steps that
must all occur) or a :class:`Forbid` (a step that must not occur in a
window). They are plain data with a ``describe()`` line each, so a pattern
reads the same in a scenario module, in the docs and in a failure listing;
finding them in a trace is :mod:`harness.trace.matcher`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.trace.basis import Basis
from harness.trace.model import CONN, FRAME, HARNESS, HEADER, PEER, TraceEvent
from harness.trace.predicates import MISSING, Ctx, fits, show

__all__ = [
    "SCOPES",
    "AnyOrder",
    "Either",
    "Forbid",
    "Never",
    "Pattern",
    "Step",
    "any_order",
    "conn",
    "either",
    "forbid",
    "frame",
    "harness",
    "header",
    "never",
    "peer",
]

#: where a pattern is matched: each connection, the whole trace, or each link
SCOPES = ("connection", "trace", "link")


@dataclass
class Step:
    """One expected event: its kind, name, endpoints and field tests; ``basis`` says
    what it rests on and whom it holds to it (see :mod:`harness.trace.basis`)."""

    kind: str
    name: Any = None
    attrs: dict[str, Any] = field(default_factory=dict)  # src, dst, channel
    fields: dict[str, Any] = field(default_factory=dict)  # "__" paths
    basis: Basis | None = None

    def because(self, basis: Basis) -> Step:
        """This step, citing ``basis``: ``frame("flow", ...).because(spec("2.6.7", BROKER))``."""
        self.basis = basis
        return self

    def test(self, event: TraceEvent, bound: dict[str, Any]) -> dict[str, Any] | None:
        """New captures (possibly empty) when ``event`` fits this step, else None."""
        if event.kind != self.kind:
            return None
        ctx = Ctx(bound)
        if self.name is not None and not fits(self.name, event.name, ctx):
            return None
        for key, spec in self.attrs.items():
            value = getattr(event, key)
            if not fits(spec, MISSING if value is None else value, ctx):
                return None
        for path, spec in self.fields.items():
            if not fits(spec, event.get(path, MISSING), ctx):
                return None
        return ctx.new

    def describe(self) -> str:
        """The step as one line of a handshake: ``frame attach src=hello role=receiver``."""
        words = [self.kind]
        attrs = dict(self.attrs)
        if self.kind == PEER:  # peer LABEL NAME reads as the peer's event line
            words.append(show(attrs.pop("src", "*")))
        if self.name is not None:
            words.append(show(self.name))
        for key, spec in attrs.items():
            words.append(f"{key}={show(spec)}")
        for path, spec in self.fields.items():
            words.append(f"{path}={show(spec)}")
        return " ".join(words)

    def __repr__(self) -> str:
        return self.describe()


def _step(kind: str, name: Any, src: Any, dst: Any, channel: Any, fields: dict) -> Step:
    attrs = {k: v for k, v in (("src", src), ("dst", dst), ("channel", channel)) if v is not None}
    return Step(kind, name, attrs, dict(fields))


def frame(
    name: Any = None, /, *, src: Any = None, dst: Any = None, channel: Any = None, **fields: Any
) -> Step:
    """A wire frame: performative ``name`` (None: any), from ``src`` to ``dst`` labels.

    ``name`` is positional only, so ``frame("attach", name="L")`` tests the link name.
    """
    return _step(FRAME, name, src, dst, channel, fields)


def header(name: Any = None, /, *, src: Any = None, dst: Any = None) -> Step:
    """A protocol header ("amqp", "sasl")."""
    return _step(HEADER, name, src, dst, None, {})


def peer(label: Any = None, name: Any = None, /, **fields: Any) -> Step:
    """A peer's event: ``peer("receiver", "message", id=1)``."""
    return _step(PEER, name, label, None, None, fields)


def conn(name: Any = None, /, *, src: Any = None, dst: Any = None, **fields: Any) -> Step:
    """A tap connection event: ``conn("cut")``, ``conn("close", by="broker")``."""
    return _step(CONN, name, src, dst, None, fields)


def harness(name: Any = None, /, **fields: Any) -> Step:
    """Something the harness did: ``harness("broker-restart")``."""
    return _step(HARNESS, name, None, None, None, fields)


@dataclass
class Never:
    """Inside a pattern: no event fitting ``step`` between the neighbouring steps' matches.

    Leading, the window starts at the beginning of the scope; trailing, it runs
    to its end. Used alone with :func:`match` it forbids ``step`` everywhere.
    """

    step: Step
    basis: Basis | None = None

    def __post_init__(self) -> None:
        if self.basis is None:
            self.basis = self.step.basis

    def because(self, basis: Basis) -> Never:
        """This window, citing ``basis``."""
        self.basis = basis
        return self

    def describe(self) -> str:
        """``never <step>``, as listed in explanations."""
        return f"never {self.step.describe()}"

    def __repr__(self) -> str:
        return self.describe()


def never(step: Step) -> Never:
    """Forbid ``step`` between the surrounding steps of a pattern."""
    return Never(step)


@dataclass
class AnyOrder:
    """Inside a pattern: all of ``steps``, in any order, after the previous step;
    the next step must come after all of them.

    Peers pipeline frames (a client sends open, begin and attach before the
    broker's open arrives), so what happens on two sides at once is stated as a
    group rather than as an order the wire does not promise. Members are
    matched greedily, each at its earliest unused event.
    """

    steps: list[Step]

    def describe(self) -> str:
        """``any order: <step> & <step>`` on one line."""
        return "any order: " + " & ".join(s.describe() for s in self.steps)

    def __repr__(self) -> str:
        return self.describe()


def any_order(*steps: Step) -> AnyOrder:
    """``any_order(frame("open", dst="c"), frame("attach", src="c"))``: both, either first."""
    if not steps or not all(isinstance(st, Step) for st in steps):
        raise TypeError("any_order() takes one or more frame(...)/peer(...) steps")
    return AnyOrder(list(steps))


@dataclass
class Either:
    """Inside a pattern: one of several alternative runs of steps.

    What the spec leaves open is written as alternatives, for example a
    delivery that arrives pre-settled *or* unsettled and then accepted. The
    pattern matches when it matches with any one alternative in that place;
    a failure explains the alternative that got furthest.
    """

    alternatives: list[list[Step | Never | AnyOrder]]

    def describe(self) -> str:
        """``either: <steps> | or: <steps>`` on one line."""
        runs = ["; ".join(s.describe() for s in alt) for alt in self.alternatives]
        return "either: " + " | or: ".join(runs)

    def __repr__(self) -> str:
        return self.describe()


def either(*alternatives: Step | Never | AnyOrder | list[Step | Never | AnyOrder]) -> Either:
    """``either(frame(...), [frame(...), frame(...)])``: one step or a list of steps each."""
    runs = [list(a) if isinstance(a, list) else [a] for a in alternatives]
    if len(runs) < 2:
        raise TypeError("either() takes two or more alternatives")
    for run in runs:
        if not run or not all(isinstance(s, Step | Never | AnyOrder) for s in run):
            raise TypeError("an either() alternative is a step or a non-empty list of steps")
    return Either(runs)


@dataclass
class Pattern:
    """A named, ordered list of steps; ``scope``/``client`` are defaults for :func:`match`."""

    description: str
    steps: list[Step | Never | AnyOrder | Either]
    scope: str = "connection"
    client: Any = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}; one of {', '.join(SCOPES)}")
        for s in self.steps:
            if not isinstance(s, Step | Never | AnyOrder | Either):
                raise TypeError(f"pattern step must be frame(...), peer(...), never(...): {s!r}")
        if not any(isinstance(s, Step | AnyOrder | Either) for s in self.steps):
            raise ValueError("a pattern needs at least one positive step")

    def flattened(self) -> list[list[Step | Never | AnyOrder]]:
        """Every way to read the steps with one alternative chosen per ``either``."""
        runs: list[list[Step | Never | AnyOrder]] = [[]]
        for s in self.steps:
            if isinstance(s, Either):
                runs = [run + alt for run in runs for alt in s.alternatives]
            else:
                runs = [run + [s] for run in runs]
        return runs

    def describe(self) -> str:
        """The whole pattern, one numbered line per step (for docs and failure messages)."""
        lines = [f'pattern "{self.description}":']
        for i, s in enumerate(self.steps):
            if isinstance(s, AnyOrder):
                lines.append(f"  {i + 1:>2}. any order:")
                lines += [f"          {m.describe()}" for m in s.steps]
            elif isinstance(s, Either):
                lines.append(f"  {i + 1:>2}. either:")
                for k, alt in enumerate(s.alternatives):
                    lines += [
                        f"        {'or: ' if k and not j else '    '}{m.describe()}"
                        for j, m in enumerate(alt)
                    ]
            else:
                lines.append(f"  {i + 1:>2}. {s.describe()}")
        return "\n".join(lines)


@dataclass
class Forbid:
    """Something that must not happen: ``step`` in the window after ``after`` (or the
    start of the scope) and before ``before`` (or its end), in every view of the scope."""

    description: str
    step: Step
    after: Step | None = None
    before: Step | None = None
    scope: str = "connection"
    client: Any = None
    basis: Basis | None = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}; one of {', '.join(SCOPES)}")

    def describe(self) -> str:
        """What is forbidden and in which window."""
        lines = [f'forbidden "{self.description}":', f"  never {self.step.describe()}"]
        if self.after is not None:
            lines.append(f"  after  {self.after.describe()}")
        if self.before is not None:
            lines.append(f"  before {self.before.describe()}")
        return "\n".join(lines)


def forbid(
    description: str,
    step: Step,
    *,
    after: Step | None = None,
    before: Step | None = None,
    scope: str = "connection",
    client: Any = None,
    basis: Basis | None = None,
) -> Forbid:
    """``forbid("no transfer before credit", frame("transfer"), before=frame("flow"))``."""
    return Forbid(description, step, after, before, scope, client, basis or step.basis)
