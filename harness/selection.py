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

from harness.cells import COVER_PAIRS, DIRECT, Cell, generate, pair_mode_for, parse_pairs, with_impl
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
    #: ``all``, ``with:IMPL``, ``self`` or ``cover``; None: all on the embedded broker,
    #: a cover on real ones
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
    try:
        pairs = None if sel.pairs is None else parse_pairs(sel.pairs)
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
        every = {f.name for s in chosen for f in s.every_fault}
        bad = [f for f in faults if f not in every]
        if bad:
            raise SelectionError(
                f"unknown fault plan {bad[0]!r} (known: {', '.join(sorted(every))})"
            )
    _check_with(pairs, impls, notes)
    cells = generate(chosen, impls, specs, faults, pairs)
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


def _check_with(pairs: str | None, impls: list[Implementation], notes: list[str]) -> None:
    """``with:IMPL`` needs IMPL among the selected (and available) peers, or it picks nothing."""
    name = with_impl(pairs or "")
    if name is None or any(i.name == name for i in impls):
        return
    why = next((n for n in notes if n.startswith(f"peer {name} ")), None)
    if why:
        raise SelectionError(f"--pairs {pairs}: {why}")
    chosen = ", ".join(i.name for i in impls) or "none"
    raise SelectionError(f"--pairs {pairs}: {name} is not among the selected peers ({chosen})")


def record(sel: Selection, cells: list[Cell], shard_text: str | None = None) -> dict:
    """What results.json keeps of the selection, so later tools know which cells it asked for.

    ``interop compare`` and ``merge`` read it (``harness.matrix.scope``) to
    tell a cell that went away from one the run never selected: another
    pair mode, fewer peers, scenarios or fault plans, a shard. ``pairs`` is
    the option as given (None: the default per broker); ``modes`` is the
    mode each broker's cells were picked with (``""``: peer to peer), and
    ``cover`` lists, per scenario, the pairs a cover picked (a cover cannot
    be recomputed without the peers' capabilities).
    """
    pairs = None if sel.pairs is None else parse_pairs(sel.pairs)
    brokers = list(dict.fromkeys(c.broker for c in cells))
    modes = {b: pair_mode_for(b, pairs) for b in brokers}
    cover: dict[str, list[str]] = {}
    for c in cells:
        if modes[c.broker] == COVER_PAIRS:
            names = cover.setdefault(c.scenario.name, [])
            pair = "->".join(impl for _, impl in c.roles)
            if pair not in names:
                names.append(pair)
    return {
        "pairs": pairs,
        "modes": modes,
        "peers": sorted({i for c in cells for i in c.impls}),
        "brokers": [b for b in brokers if b != DIRECT],
        "scenarios": list(dict.fromkeys(c.scenario.name for c in cells)),
        "faults": csv(sel.fault),
        "cells": list(sel.cells) or None,
        "shard": shard_text or None,
        "cover": cover,
    }


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
