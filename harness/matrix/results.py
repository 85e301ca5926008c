"""The results of a matrix run: what ``results.json`` holds, and nothing else.

A run is a list of cells (scenario x fault plan x peer pair x broker), each
with a verdict. Everything downstream (reports, comparisons, merges, the exit
status) reads these objects, so this module stays free of I/O beyond
``save``/``load`` and free of any knowledge of how a cell was run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: the ``version`` field this code writes and accepts
RESULTS_VERSION = 1

PASS = "pass"
FAIL = "fail"
XFAIL = "xfail"
XPASS = "xpass"
UNSUPPORTED = "unsupported"
SKIPPED = "skipped"
#: the harness itself failed (an exception in a stage): no verdict on any implementation
ERROR = "error"

#: every verdict a cell can have, in the order reports count them
VERDICTS: tuple[str, ...] = (PASS, XFAIL, XPASS, UNSUPPORTED, SKIPPED, FAIL, ERROR)

#: the fault plan of a cell run without injected faults (left out of cell ids)
NO_FAULT = "none"


def pair_name(peers: Sequence[str] | Mapping[str, str]) -> str:
    """Name a peer pair as ids and report columns show it: ``python->js``, or ``python`` alone.

    ``peers`` is the peers in the scenario's role order, or a role->peer dict
    (whose insertion order is that order).
    """
    names = list(peers.values()) if isinstance(peers, Mapping) else list(peers)
    return "->".join(names)


def cell_id(
    scenario: str,
    fault: str | None,
    roles_in_order: Sequence[str] | Mapping[str, str],
    broker: str | None,
) -> str:
    """The id every tool uses for a cell: ``{scenario}[-{fault}]-{pair}-{broker}``.

    One format everywhere (pytest node ids, artifact folders, ``compare``)
    so a cell can be followed from one run to the next. Fault ``none`` and an
    empty broker (the brokerless direct scenario) are left out.
    """
    parts = [scenario]
    if fault and fault != NO_FAULT:
        parts.append(fault)
    parts.append(pair_name(roles_in_order))
    if broker:
        parts.append(broker)
    return "-".join(parts)


def _one_line(text: Any) -> str:
    """Reasons are shown in tables and one-line lists: fold whitespace and newlines."""
    return " ".join(str(text or "").split())


@dataclass
class CellResult:
    """One cell's outcome.

    ``roles`` maps each role of the scenario to the peer that played it, in
    the scenario's role order (``{"sender": "python", "receiver": "js"}``).
    ``reason`` is one line; ``rule`` names the broken assertion rule when one
    failed; ``known`` is the id of the known-failure entry that turned a raw
    verdict into xfail/xpass/unsupported; ``rerun`` is a command that runs
    this cell alone; ``artifacts`` is the cell's folder relative to the
    results file; ``figures`` carries numbers worth keeping (message counts,
    duplicates, throughput).
    """

    id: str
    scenario: str
    fault: str
    broker: str
    roles: dict[str, str]
    verdict: str
    reason: str = ""
    rule: str | None = None
    duration_s: float = 0.0
    artifacts: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    known: str | None = None
    rerun: str | None = None

    @property
    def pair(self) -> str:
        """The peer pair in role order, ``python->js`` (one-role scenarios: ``python``)."""
        return pair_name(self.roles)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "scenario": self.scenario,
            "fault": self.fault,
            "broker": self.broker,
            "roles": dict(self.roles),
            "verdict": self.verdict,
            "reason": self.reason,
            "rule": self.rule,
            "duration_s": round(float(self.duration_s), 3),
            "artifacts": self.artifacts,
            "figures": dict(self.figures),
            "known": self.known,
        }
        if self.rerun is not None:
            d["rerun"] = self.rerun
        return d

    @classmethod
    def from_json(cls, d: Any, where: str = "cell") -> CellResult:
        """Read one cell; a bad one raises ValueError naming ``where`` and the field."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: not an object")
        for key in ("id", "scenario", "verdict"):
            if not isinstance(d.get(key), str) or not d.get(key):
                raise ValueError(f"{where}: missing or empty '{key}'")
        where = f"{where} ({d['id']})"
        verdict = d["verdict"]
        if verdict not in VERDICTS:
            raise ValueError(
                f"{where}: unknown verdict '{verdict}' (expected {', '.join(VERDICTS)})"
            )
        roles = d.get("roles", {})
        if not isinstance(roles, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in roles.items()
        ):
            raise ValueError(f"{where}: 'roles' must map role names to peer names")
        figures = d.get("figures") or {}
        if not isinstance(figures, Mapping):
            raise ValueError(f"{where}: 'figures' must be an object")
        try:
            duration = float(d.get("duration_s") or 0.0)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: 'duration_s' is not a number") from None
        for key in ("fault", "broker", "reason", "artifacts"):
            if d.get(key) is not None and not isinstance(d.get(key), str):
                raise ValueError(f"{where}: '{key}' must be a string")
        for key in ("rule", "known", "rerun"):
            if d.get(key) is not None and not isinstance(d.get(key), str):
                raise ValueError(f"{where}: '{key}' must be a string or null")
        return cls(
            id=d["id"],
            scenario=d["scenario"],
            fault=d.get("fault") or NO_FAULT,
            broker=d.get("broker") or "",
            roles=dict(roles),
            verdict=verdict,
            reason=_one_line(d.get("reason")),
            rule=d.get("rule"),
            duration_s=duration,
            artifacts=d.get("artifacts") or "",
            figures=dict(figures),
            known=d.get("known"),
            rerun=d.get("rerun"),
        )


@dataclass
class RunResult:
    """A whole run: the brokers and peers it used (as they identified themselves) and its cells.

    ``brokers`` entries are ``{"name", "product", "version",
    "offered_capabilities"}`` (``name`` is the provider spec the cells refer
    to); ``peers`` entries are ``{"name", "version"}``. They stay plain dicts
    so a newer runner can add keys without breaking older readers.
    """

    brokers: list[dict[str, Any]] = field(default_factory=list)
    peers: list[dict[str, Any]] = field(default_factory=list)
    cells: list[CellResult] = field(default_factory=list)
    started_at: str = ""
    duration_s: float = 0.0
    command: str = ""
    version: int = RESULTS_VERSION
    #: the selection the run was asked for (``harness.selection.record``; read by
    #: ``harness.matrix.scope``); None in results written before it was recorded
    selection: dict[str, Any] | None = None

    def broker(self, name: str) -> dict[str, Any]:
        """The broker entry called ``name``, or an empty dict (a cell may name an unlisted broker)."""
        for b in self.brokers:
            if b.get("name") == name:
                return b
        return {}

    def peer_versions(self) -> dict[str, str]:
        """Peer name -> version, as the known-failure registry wants it."""
        return {str(p.get("name")): str(p.get("version") or "") for p in self.peers}

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": self.version,
            "started_at": self.started_at,
            "duration_s": round(float(self.duration_s), 3),
            "command": self.command,
        }
        if self.selection is not None:
            d["selection"] = dict(self.selection)
        d["brokers"] = [dict(b) for b in self.brokers]
        d["peers"] = [dict(p) for p in self.peers]
        d["cells"] = [c.to_json() for c in self.cells]
        return d

    @classmethod
    def from_json(cls, data: Any, source: str = "results.json") -> RunResult:
        """Read a run; anything that is not a version-1 results object raises a one-line ValueError."""
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as e:
                raise ValueError(f"{source}: not JSON ({e.msg} at line {e.lineno})") from None
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: not a results file (not a JSON object)")
        if "cells" not in data:
            raise ValueError(f"{source}: not a results file (missing 'cells')")
        version = data.get("version")
        if version != RESULTS_VERSION:
            raise ValueError(
                f"{source}: unsupported results version {version!r} (this harness reads {RESULTS_VERSION})"
            )
        if not isinstance(data["cells"], list):
            raise ValueError(f"{source}: 'cells' must be a list")
        for key, required in (("brokers", ("name",)), ("peers", ("name",))):
            items = data.get(key) or []
            if not isinstance(items, list) or not all(
                isinstance(i, Mapping) and all(isinstance(i.get(r), str) for r in required)
                for i in items
            ):
                raise ValueError(f"{source}: '{key}' must be a list of objects with a 'name'")
        cells = [
            CellResult.from_json(c, where=f"{source}: cell {i}")
            for i, c in enumerate(data["cells"])
        ]
        try:
            duration = float(data.get("duration_s") or 0.0)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: 'duration_s' is not a number") from None
        selection = data.get("selection")
        if selection is not None and not isinstance(selection, Mapping):
            raise ValueError(f"{source}: 'selection' must be an object")
        command = data.get("command") or ""
        if isinstance(command, list):
            command = " ".join(str(c) for c in command)
        return cls(
            version=RESULTS_VERSION,
            brokers=[dict(b) for b in data.get("brokers") or []],
            peers=[dict(p) for p in data.get("peers") or []],
            cells=cells,
            started_at=str(data.get("started_at") or ""),
            duration_s=duration,
            command=str(command),
            selection=None if selection is None else dict(selection),
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``results.json`` atomically, so a reader never sees half a file."""
        path = os.fspath(path)
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunResult:
        """Read a results file; a missing, unreadable or malformed one raises a one-line ValueError."""
        source = os.fspath(path)
        try:
            with open(source, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise ValueError(f"{source}: no such file") from None
        except IsADirectoryError:
            raise ValueError(f"{source}: is a directory, not a results file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"{source}: cannot read ({e.__class__.__name__})") from None
        return cls.from_json(text, source=source)


def save(run: RunResult, path: str | os.PathLike[str]) -> None:
    """Module-level spelling of :meth:`RunResult.save`."""
    run.save(path)


def load(path: str | os.PathLike[str]) -> RunResult:
    """Module-level spelling of :meth:`RunResult.load`."""
    return RunResult.load(path)


def counts(cells: Iterable[CellResult]) -> dict[str, int]:
    """Cells per verdict, every verdict present (zeros included), in :data:`VERDICTS` order."""
    out = dict.fromkeys(VERDICTS, 0)
    for c in cells:
        out[c.verdict] = out.get(c.verdict, 0) + 1
    return out


def unexpected_failures(run: RunResult, strict: bool = False) -> list[CellResult]:
    """Cells that should fail the run: ``fail`` and ``error``, with ``strict`` also ``xpass``.

    A harness error is unexpected too: the run could not say whether those
    cells work. Strict mode treats a known failure that stopped happening as
    unexpected so the registry is kept honest (as pytest's ``xfail_strict``).
    """
    bad = {FAIL, ERROR, XPASS} if strict else {FAIL, ERROR}
    return [c for c in run.cells if c.verdict in bad]


def exit_code(run: RunResult, strict: bool = False) -> int:
    """0 when no cell failed or erred unexpectedly, 1 when one did (2, usage errors, is the CLI's)."""
    return 1 if unexpected_failures(run, strict) else 0
