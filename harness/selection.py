"""Which cells a run has: the options both front doors take, checked in one place.

``interop run`` and the pytest plugin take the same options (brokers,
peers, scenarios, fault plans, extra peers, count, timeout); both turn them
into cells here, so a bad name gets the same one line from either (the CLI
exits 2, pytest stops with a usage error) and the same selection gives the
same cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.cells import PAIR_MODES, Cell, generate
from harness.matrix import known as known_mod
from harness.peers import (
    Implementation,
    PeerRegistry,
    UsageError,
    load_peers_file,
    parse_peer_option,
)


class SelectionError(ValueError):
    """A bad option: one line for the user (exit 2 / pytest usage error)."""


def csv(text: str | None) -> list[str] | None:
    """``"a, b,"`` -> ``["a", "b"]``; None or empty -> None (meaning: all)."""
    if text is None:
        return None
    return [p.strip() for p in text.split(",") if p.strip()] or None


@dataclass
class Selection:
    """The options that choose cells, as the user gave them (comma lists as text)."""

    broker: str | None = "embedded"
    peers: str | None = None
    scenario: str | None = None
    fault: str | None = None
    cells: Sequence[str] = ()
    extra_peers: Sequence[str] = ()  # NAME=COMMAND, as --peer
    peers_file: str | None = None
    known_files: Sequence[str] = ()
    count: int | None = None
    timeout: float | None = None
    #: ``all`` pairs or a ``cover``; None: all on the embedded broker, a cover on real ones
    pairs: str | None = None
    #: peers not named in ``peers`` are left out when their toolchain is missing
    #: (``interop run``'s default); otherwise their cells skip, or fail in CI
    only_available_peers: bool = False
    #: ``--address-format``: how ``url:`` brokers address queues (written into their specs,
    #: so cell ids and rerun commands carry it)
    address_format: str | None = None


@dataclass
class Resolved:
    """A checked selection: the registry of its peers, its cells, and notes for the user."""

    registry: PeerRegistry
    cells: list[Cell]
    known: known_mod.KnownFailures
    notes: list[str] = field(default_factory=list)


def resolve(sel: Selection) -> Resolved:
    """Check every option and build the cells; ``SelectionError`` (one line) for anything bad."""
    import harness.scenarios as scenarios
    from harness.brokers import registry as brokers

    if sel.count is not None and sel.count < 1:
        raise SelectionError("--count must be >= 1")
    if sel.timeout is not None and sel.timeout <= 0:
        raise SelectionError("--timeout must be > 0")
    if sel.pairs is not None and sel.pairs not in PAIR_MODES:
        raise SelectionError(f"bad --pairs {sel.pairs!r} (known: {', '.join(PAIR_MODES)})")
    try:
        registry = PeerRegistry(_extra_peers(sel))
        specs = _with_address_format(brokers.parse_specs(sel.broker), sel.address_format)
        chosen = scenarios.select(csv(sel.scenario))
        impls = registry.select(csv(sel.peers))
        known = known_mod.load_registry(list(sel.known_files))
    except (ValueError, UsageError, OSError) as e:
        raise SelectionError(str(e)) from None
    notes: list[str] = []
    if sel.only_available_peers and not csv(sel.peers):
        impls, notes = _available(impls)
    faults = csv(sel.fault)
    if faults:
        every = {f.name for s in chosen for f in s.faults}
        bad = [f for f in faults if f not in every]
        if bad:
            raise SelectionError(
                f"unknown fault plan {bad[0]!r} (known: {', '.join(sorted(every))})"
            )
    cells = generate(chosen, impls, specs, faults, sel.pairs)
    if sel.cells:
        by_id = {c.id: c for c in cells}
        bad = [c for c in sel.cells if c not in by_id]
        if bad:
            raise SelectionError(f"no cell {bad[0]!r} in this selection (see interop run --list)")
        cells = [by_id[c] for c in sel.cells]
    return Resolved(registry, cells, known, notes)


def shard(text: str | None, cells: list[Cell]) -> list[Cell]:
    """``K/N``: the K-th of N interleaved slices, so shards get a similar mix of cells."""
    if not text:
        return cells
    try:
        k, n = (int(x) for x in text.split("/"))
        if not 1 <= k <= n:
            raise ValueError
    except ValueError:
        raise SelectionError(f"bad --shard {text!r}: expected K/N with 1 <= K <= N") from None
    return [c for i, c in enumerate(cells) if i % n == k - 1]


def _with_address_format(specs: list[str], text: str | None) -> list[str]:
    """``url:`` specs with ``?address-format=`` set; a format without a url broker is a usage error."""
    if text is None:
        return specs
    from harness.brokers.conventions import parse_address_format
    from harness.brokers.url import with_address_format

    try:
        parse_address_format(text)
    except ValueError as e:
        raise ValueError(f"--address-format: {e}") from None
    if not any(s.startswith("url:") for s in specs):
        raise ValueError("--address-format applies to url: brokers only (the others know theirs)")
    return [with_address_format(s, text) if s.startswith("url:") else s for s in specs]


def _extra_peers(sel: Selection) -> list[Implementation]:
    extra = [parse_peer_option(p) for p in sel.extra_peers]
    if sel.peers_file:
        extra += load_peers_file(sel.peers_file)
    return extra


def _available(impls: list[Implementation]) -> tuple[list[Implementation], list[str]]:
    usable, notes = [], []
    for impl in impls:
        reason = impl.unavailable()
        if reason:
            notes.append(f"peer {impl.name} skipped: {reason}")
        else:
            usable.append(impl)
    return usable, notes
