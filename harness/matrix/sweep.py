"""What changed between versions of one broker: the rows of a version sweep.

``interop run --broker container:rabbitmq-3.10,container:rabbitmq-4.0,container:rabbitmq-4.3``
runs the same cells on three releases. A maintainer asks what changed from
one release to the next, so every cell whose verdict or reason differs from
the previous version is a row, with both reasons. The reports (text,
Markdown, HTML) show these rows under the matrices.

The API is one function over an ordered list of brokers' results
(:func:`changes`); :func:`sweeps` finds those lists in a run: brokers next to
each other on the command line whose open frames name the same product.

Reasons carry what differs on every run (queue names with a random suffix,
times, connection and delivery numbers, the broker's own name); they are
compared with those parts blanked out, and shown as they were written. A
known failure is compared by its entry: the same entry on both versions is
the same reason, whatever the trace showed in detail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .results import NO_FAULT, CellResult, RunResult, pair_name

__all__ = ["BrokerCells", "Change", "changes", "run_changes", "sweep_title", "sweeps"]


@dataclass(frozen=True)
class BrokerCells:
    """One broker's results in a sweep: its spec, who answered, and its cells."""

    name: str
    product: str
    version: str
    cells: tuple[CellResult, ...] = field(default=())

    @property
    def label(self) -> str:
        """The version when known (``4.3.6``), else the broker's spec."""
        return self.version or self.name


@dataclass(frozen=True)
class Change:
    """A cell whose verdict or reason differs from the previous version's."""

    scenario: str
    fault: str
    pair: str
    before: str  # the previous broker's label (its version)
    after: str
    before_verdict: str
    after_verdict: str
    before_reason: str
    after_reason: str

    @property
    def row(self) -> str:
        """``request-response / tutorial-pure python->js``."""
        label = self.scenario if self.fault == NO_FAULT else f"{self.scenario} / {self.fault}"
        return f"{label} {self.pair}"


_NOISE = (
    re.compile(r"\b[0-9a-f]{8,}\b"),  # queue suffixes, uuids, container ids
    re.compile(r"\b[0-9a-f]*\d[0-9a-f]*\b"),  # shorter hex ids with a digit (c12, 3af0)
    re.compile(r"\d+(?:\.\d+)*"),  # times, counts, handles, connection numbers (c12)
)


def comparable(reason: str, broker: str) -> str:
    """A reason with what differs from run to run blanked out (the broker's name, numbers, ids)."""
    text = " ".join((reason or "").split())
    if broker:
        text = text.replace(broker, "BROKER")
    for pattern in _NOISE:
        text = pattern.sub("#", text)
    return text


def _same(old: CellResult, new: CellResult, before: str, after: str) -> bool:
    if old.verdict != new.verdict:
        return False
    if old.known or new.known:  # a known failure: its entry is its reason
        return old.known == new.known
    return comparable(old.reason, before) == comparable(new.reason, after)


def _key(c: CellResult) -> tuple[str, str, str]:
    return (c.scenario, c.fault or NO_FAULT, pair_name(c.roles))


def changes(brokers: Sequence[BrokerCells]) -> list[Change]:
    """Every cell whose verdict or reason differs from the previous broker's, in cell order.

    A cell compares with the same scenario, fault plan and pair on the broker
    before it; one that ran on only one of the two is not a change.
    """
    out: list[Change] = []
    for before, after in zip(brokers, brokers[1:], strict=False):
        previous = {_key(c): c for c in before.cells}
        for c in after.cells:
            old = previous.get(_key(c))
            if old is None:
                continue
            if _same(old, c, before.name, after.name):
                continue
            scenario, fault, pair = _key(c)
            out.append(
                Change(
                    scenario,
                    fault,
                    pair,
                    before.label,
                    after.label,
                    old.verdict,
                    c.verdict,
                    " ".join(old.reason.split()),
                    " ".join(c.reason.split()),
                )
            )
    return out


def sweeps(run: RunResult) -> list[list[BrokerCells]]:
    """The runs of two or more brokers in a row that name the same product, in run order."""
    groups: list[list[BrokerCells]] = []
    current: list[BrokerCells] = []
    for b in run.brokers:
        name = str(b.get("name") or "")
        entry = BrokerCells(
            name,
            str(b.get("product") or ""),
            str(b.get("version") or ""),
            tuple(c for c in run.cells if c.broker == name),
        )
        same = current and entry.product and current[-1].product.lower() == entry.product.lower()
        if not same:
            if len(current) > 1:
                groups.append(current)
            current = []
        current.append(entry)
    if len(current) > 1:
        groups.append(current)
    return [g for g in groups if g[0].product]


def run_changes(run: RunResult) -> list[tuple[list[BrokerCells], list[Change]]]:
    """Each sweep of a run with its changed rows (an empty list: nothing changed)."""
    return [(group, changes(group)) for group in sweeps(run)]


def sweep_title(group: Sequence[BrokerCells], rows: Sequence[Change]) -> str:
    """``Changed between versions: RabbitMQ 3.10.8 -> 4.0.5 -> 4.3.6 (3 cells)``."""
    path = " -> ".join(b.label for b in group)
    n = f"{len(rows)} cell{'' if len(rows) == 1 else 's'}" if rows else "no cell changed"
    return f"Changed between versions: {group[0].product} {path} ({n})"
