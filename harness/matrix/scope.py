"""Which cells a run's selection asked for, read back from its results.json record.

A run records its selection (``harness.selection.record``): pair mode per
broker, peers, brokers, scenarios, fault plans, ``--cell`` ids, shard. Two
runs with different selections (``--pairs all`` last week, ``cover`` today;
five peers, then three) hold different cells, and a cell the newer run never
selected has not *gone*: ``interop compare`` asks :func:`selects` before it
calls a cell removed. ``interop merge`` joins shards' records with
:func:`merge_records`, so the merged run knows it is the whole selection, or
which shards it lacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .results import CellResult

#: the pair modes whose pairs follow from the roles alone (a cover's are listed)
_ALL, _SELF, _COVER, _WITH = "all", "self", "cover", "with:"


def selects(record: Mapping[str, Any] | None, cell: CellResult) -> bool:
    """True when the selection ``record`` surely holds ``cell``.

    No record (results written before selections were recorded): every cell
    counts as selected, as before. A shard holds an unknown slice of its
    selection, so it surely holds none of the cells it lacks: False.
    """
    if record is None:
        return True
    if "any_of" in record:
        return any(selects(part, cell) for part in record["any_of"])
    if record.get("shard"):
        return False
    if record.get("cells"):
        return cell.id in record["cells"]
    modes = record.get("modes") or {}
    if cell.scenario not in (record.get("scenarios") or ()) or cell.broker not in modes:
        return False
    faults = record.get("faults")
    if faults and cell.fault not in faults:
        return False
    impls = list(cell.roles.values())
    if not set(impls) <= set(record.get("peers") or ()):
        return False
    return _pair_selected(str(modes[cell.broker]), impls, cell, record)


def _pair_selected(
    mode: str, impls: list[str], cell: CellResult, record: Mapping[str, Any]
) -> bool:
    if mode == _ALL:
        return True
    if mode == _SELF:
        return len(set(impls)) == 1
    if mode.startswith(_WITH):
        return mode[len(_WITH) :] in impls
    if mode == _COVER:
        return cell.pair in ((record.get("cover") or {}).get(cell.scenario) or ())
    return False


def _shard(record: Mapping[str, Any]) -> tuple[set[int], int] | None:
    """``"K/N"`` (or ``"K,L/N"`` after a partial merge) -> ({K, L}, N); None for a whole run."""
    text = record.get("shard")
    if not text:
        return None
    ks, _, n = str(text).partition("/")
    return {int(k) for k in ks.split(",")}, int(n)


def merge_records(
    records: Sequence[Mapping[str, Any] | None],
) -> tuple[dict[str, Any] | None, list[str]]:
    """One record for merged runs, and the shards missing from them (``"2/4"``).

    Shards of one selection (records equal but for ``shard``) become that
    selection, whole when every shard 1..N is there, else with the shards
    present (``"1,3/4"``). Runs of different selections become ``any_of``.
    A run without a record makes the merged record unknown (None).
    """
    if not records or any(r is None for r in records):
        return None, []
    parts: list[dict[str, Any]] = []
    for r in records:
        for part in r.get("any_of") or [r]:  # type: ignore[union-attr]
            if dict(part) not in parts:
                parts.append(dict(part))
    groups: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for p in parts:
        key = {k: v for k, v in p.items() if k != "shard"}
        for seen, members in groups:
            if seen == key:
                members.append(p)
                break
        else:
            groups.append((key, [p]))
    merged: list[dict[str, Any]] = []
    missing: list[str] = []
    for key, members in groups:
        shards = [_shard(m) for m in members]
        if any(s is None for s in shards) or len({s[1] for s in shards}) > 1:  # type: ignore[index]
            whole = any(s is None for s in shards)
            merged.extend([{**key, "shard": None}] if whole else members)
            continue
        n = shards[0][1]  # type: ignore[index]
        have = set().union(*(s[0] for s in shards))  # type: ignore[index]
        lack = [k for k in range(1, n + 1) if k not in have]
        missing += [f"{k}/{n}" for k in lack]
        shard = None if not lack else ",".join(str(k) for k in sorted(have)) + f"/{n}"
        merged.append({**key, "shard": shard})
    if len(merged) == 1:
        return merged[0], missing
    return {"any_of": merged}, missing
