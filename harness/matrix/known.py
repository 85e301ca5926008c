"""Known failures: cells expected to fail or to be unsupported, kept as data.

A broker that cannot do something (RabbitMQ 3.x never answers a dynamic
receiver's attach) should not turn the matrix red on every run, and should
not be hidden either. The registry says which cells are expected to fail,
why, and where that is documented; :func:`apply` turns a raw verdict into
``xfail``/``unsupported`` when an entry matches, and into ``xpass`` when a
matching cell passes (the known failure is gone: update the registry).

Entries match on the broker's *identity* as it announced itself in its open
frame (product and version), not on the provider name, so a RabbitMQ reached
through ``url:`` or a container matches the same entries. ``broker_profile``
(``{"routing": "multicast"}``) narrows an entry to brokers whose identity carries
that profile (a provider's configuration, or the ``url:`` provider's probe).

An entry with ``lacks`` (a capability name: ``dynamic``, ``anonymous-relay``,
``restart``) says that the broker, in that version range, does not have that
capability: a cell whose scenario or fault plan needs it is ``unsupported``
at broker set-up, with the entry's reason, and never runs
(:meth:`KnownFailures.lacking`). Such an entry never turns a verdict of a cell
that ran; outside its range the cell runs, and the broker's answer decides.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.brokers.versions import check_version_pattern, version_matches
from harness.brokers.versions import name_matches as _name_matches
from harness.capabilities import ANONYMOUS_RELAY, DYNAMIC, RESTART

from .results import FAIL, PASS, UNSUPPORTED, XFAIL, XPASS, CellResult

#: the registry shipped with the harness
PACKAGED_REGISTRY = Path(__file__).with_name("known_failures.json")

_ENTRY_VERDICTS = (XFAIL, UNSUPPORTED)
_KEYS = {
    "id",
    "scenario",
    "fault",
    "broker_product",
    "broker_version",
    "broker_profile",
    "peers",
    "peer_versions",
    "verdict",
    "reason",
    "reference",
    "rules",
    "observed",
    "lacks",
}
#: what a ``lacks`` entry may name
_CAPABILITIES = (DYNAMIC, ANONYMOUS_RELAY, RESTART)


def _get(identity: Any, key: str) -> str:
    """Read product/version from a BrokerIdentity, a results.json broker dict, or None."""
    if identity is None:
        return ""
    if isinstance(identity, Mapping):
        return str(identity.get(key) or "")
    return str(getattr(identity, key, "") or "")


def _profile(identity: Any) -> Mapping[str, Any]:
    """The broker's profile from a BrokerIdentity or a results.json broker dict ({} if none)."""
    is_map = isinstance(identity, Mapping)
    found = identity.get("profile") if is_map else getattr(identity, "profile", None)
    return found if isinstance(found, Mapping) else {}


@dataclass(frozen=True)
class KnownFailure:
    """One registry entry. ``source`` is the file it came from, for error messages."""

    id: str
    verdict: str
    reason: str
    reference: str = ""
    scenario: str = "*"
    fault: str = "*"
    broker_product: str = "*"
    broker_version: str = "*"
    #: every key must be in the broker's profile with this value (as text)
    broker_profile: dict[str, str] = field(default_factory=dict)
    peers: dict[str, str] = field(default_factory=dict)
    peer_versions: dict[str, str] = field(default_factory=dict)
    #: when set, the entry covers a failing cell only if every rule it broke is listed
    #: (a broker's known protocol slip must not hide an unrelated failure)
    rules: tuple[str, ...] = ()
    #: when set, the entry covers a failing cell only if one of its failure messages
    #: contains this text (for a slip that shows itself by one specific error)
    observed: str = ""
    #: when set, a capability the broker lacks in this range: the entry decides at
    #: broker set-up, for cells that need it, and is never applied to a cell that ran
    lacks: str = ""
    source: str = ""

    def matches(
        self,
        cell: CellResult,
        broker_identity: Any,
        peer_versions: Mapping[str, str] | None = None,
        rules: Sequence[str] | None = None,
        messages: Sequence[str] | None = None,
    ) -> bool:
        """Whether this entry covers ``cell`` run against ``broker_identity``.

        ``rules`` are the rule ids the cell broke (None: not known, not checked).

        ``peers`` and ``peer_versions`` are keyed by role; the key ``*`` means
        "any role of the cell". A role the cell does not have never matches.
        """
        if not _name_matches(self.scenario, cell.scenario):
            return False
        # a rule-scoped entry speaks only of failing cells whose every broken rule it
        # lists; a cell that passes is simply passing (such slips are often intermittent)
        if self.rules and (not rules or not set(rules) <= set(self.rules)):
            return False
        if self.observed and not any(self.observed in m for m in messages or ()):
            return False
        if not _name_matches(self.fault, cell.fault or "none"):
            return False
        if not _name_matches(self.broker_product, _get(broker_identity, "product")):
            return False
        if not version_matches(self.broker_version, _get(broker_identity, "version")):
            return False
        profile = _profile(broker_identity)
        if any(str(profile.get(k)).lower() != v.lower() for k, v in self.broker_profile.items()):
            return False
        for role, pattern in self.peers.items():
            names = list(cell.roles.values()) if role == "*" else [cell.roles.get(role)]
            if not any(n is not None and _name_matches(pattern, n) for n in names):
                return False
        versions = peer_versions or {}
        for role, pattern in self.peer_versions.items():
            names = list(cell.roles.values()) if role == "*" else [cell.roles.get(role)]
            if not any(
                n is not None and version_matches(pattern, str(versions.get(n) or ""))
                for n in names
            ):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "scenario": self.scenario,
            "fault": self.fault,
            "broker_product": self.broker_product,
            "broker_version": self.broker_version,
        }
        if self.broker_profile:
            d["broker_profile"] = dict(self.broker_profile)
        if self.peers:
            d["peers"] = dict(self.peers)
        if self.peer_versions:
            d["peer_versions"] = dict(self.peer_versions)
        if self.rules:
            d["rules"] = list(self.rules)
        if self.observed:
            d["observed"] = self.observed
        if self.lacks:
            d["lacks"] = self.lacks
        d.update(verdict=self.verdict, reason=self.reason, reference=self.reference)
        return d

    @classmethod
    def from_json(cls, d: Any, source: str = "", index: int = 0) -> KnownFailure:
        """Validate and read one entry; errors name the file and the entry."""
        label = d.get("id") if isinstance(d, Mapping) and isinstance(d.get("id"), str) else None
        where = f"{source}: entry {index}" + (f" ({label})" if label else "")
        if not isinstance(d, Mapping):
            raise ValueError(f"{where}: not an object")
        unknown = sorted(set(d) - _KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key '{unknown[0]}'")
        for key in ("id", "reason"):
            if not isinstance(d.get(key), str) or not d[key].strip():
                raise ValueError(f"{where}: missing or empty '{key}'")
        verdict = d.get("verdict")
        if verdict not in _ENTRY_VERDICTS:
            raise ValueError(
                f"{where}: 'verdict' must be 'xfail' or 'unsupported', not {verdict!r}"
            )
        for key in ("scenario", "fault", "broker_product", "broker_version", "reference"):
            value = d.get(key, "*")
            if not isinstance(value, str) or (key != "reference" and not value.strip()):
                raise ValueError(f"{where}: '{key}' must be a non-empty string")
        for key in ("peers", "peer_versions", "broker_profile"):
            value = d.get(key) or {}
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()
            ):
                raise ValueError(f"{where}: '{key}' must map role names to patterns")
        if not isinstance(d.get("observed", ""), str):
            raise ValueError(f"{where}: 'observed' must be a string")
        lacks = d.get("lacks", "")
        if lacks and lacks not in _CAPABILITIES:
            raise ValueError(f"{where}: 'lacks' must be one of {', '.join(_CAPABILITIES)}")
        if lacks and verdict != UNSUPPORTED:
            raise ValueError(f"{where}: an entry with 'lacks' has verdict 'unsupported'")
        rules = d.get("rules") or []
        if not isinstance(rules, list) or not all(isinstance(r, str) and r for r in rules):
            raise ValueError(f"{where}: 'rules' must be a list of rule ids")
        try:
            check_version_pattern(d.get("broker_version", "*"))
            for pattern in (d.get("peer_versions") or {}).values():
                check_version_pattern(pattern)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        return cls(
            id=d["id"],
            verdict=verdict,
            reason=" ".join(d["reason"].split()),
            reference=d.get("reference", ""),
            scenario=d.get("scenario", "*"),
            fault=d.get("fault", "*"),
            broker_product=d.get("broker_product", "*"),
            broker_version=d.get("broker_version", "*"),
            broker_profile=dict(d.get("broker_profile") or {}),
            peers=dict(d.get("peers") or {}),
            peer_versions=dict(d.get("peer_versions") or {}),
            rules=tuple(rules),
            observed=str(d.get("observed") or ""),
            lacks=str(lacks or ""),
            source=source,
        )


@dataclass
class KnownFailures:
    """An ordered list of entries; the first match wins."""

    entries: list[KnownFailure] = field(default_factory=list)

    def __iter__(self) -> Iterator[KnownFailure]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entry_id: str) -> KnownFailure | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def find(
        self,
        cell: CellResult,
        broker_identity: Any,
        peer_versions: Mapping[str, str] | None = None,
        rules: Sequence[str] | None = None,
        messages: Sequence[str] | None = None,
    ) -> KnownFailure | None:
        """The first entry that covers the cell, or None (``lacks`` entries never do)."""
        return _first(self.entries, cell, broker_identity, peer_versions, rules, messages)

    def lacking(
        self,
        needs: Iterable[str],
        cell: CellResult,
        broker_identity: Any,
        peer_versions: Mapping[str, str] | None = None,
    ) -> KnownFailure | None:
        """The first ``lacks`` entry for this broker naming a capability in ``needs``, or None.

        Asked before a cell runs: a match makes it ``unsupported`` without spending
        a timeout on a broker known not to answer.
        """
        wanted = set(needs)
        return next(
            (
                e
                for e in self.entries
                if e.lacks in wanted and e.matches(cell, broker_identity, peer_versions)
            ),
            None,
        )


def _first(
    entries: Iterable[KnownFailure],
    cell: CellResult,
    broker_identity: Any,
    peer_versions: Mapping[str, str] | None,
    rules: Sequence[str] | None,
    messages: Sequence[str] | None,
) -> KnownFailure | None:
    """The first entry (not a ``lacks`` one) that covers a cell that ran."""
    return next(
        (
            e
            for e in entries
            if not e.lacks and e.matches(cell, broker_identity, peer_versions, rules, messages)
        ),
        None,
    )


def parse_registry(data: Any, source: str) -> list[KnownFailure]:
    """Entries from a decoded registry document ``{"entries": [...]}`` (a bare list is accepted too)."""
    if isinstance(data, Mapping):
        if "entries" not in data:
            raise ValueError(f"{source}: not a known-failures file (missing 'entries')")
        data = data["entries"]
    if not isinstance(data, list):
        raise ValueError(f"{source}: 'entries' must be a list")
    return [KnownFailure.from_json(d, source, i) for i, d in enumerate(data)]


def read_registry_file(path: str | os.PathLike[str]) -> list[KnownFailure]:
    """Entries of one registry file; any problem is a one-line ValueError naming the file."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{source}: no such file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{source}: not JSON ({e.msg} at line {e.lineno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{source}: cannot read ({e.__class__.__name__})") from None
    return parse_registry(data, source)


def load_registry(
    extra_paths: Iterable[str | os.PathLike[str]] = (),
    *,
    packaged: bool = True,
) -> KnownFailures:
    """The packaged registry plus the user's files.

    Entries from ``extra_paths`` come first, so a user's own entry for a cell
    wins over the shipped one. Ids must be unique across all files.
    """
    entries: list[KnownFailure] = []
    for p in extra_paths:
        entries.extend(read_registry_file(p))
    if packaged:
        entries.extend(read_registry_file(PACKAGED_REGISTRY))
    seen: dict[str, str] = {}
    for e in entries:
        if e.id in seen:
            raise ValueError(f"{e.source}: entry ({e.id}): id already used in {seen[e.id]}")
        seen[e.id] = e.source
    return KnownFailures(entries)


def apply(
    raw_verdict: str,
    reason: str,
    cell: CellResult,
    broker_identity: Any,
    peer_versions: Mapping[str, str] | None,
    registry: KnownFailures | Iterable[KnownFailure],
    rules: Sequence[str] | None = None,
    messages: Sequence[str] | None = None,
) -> tuple[str, str, str | None]:
    """Turn a raw verdict into the reported one: ``(verdict, reason, entry_id)``.

    - raw ``fail`` + a matching entry: the entry's verdict (xfail/unsupported),
      its reason, and what was actually seen;
    - raw ``pass`` + a matching entry: ``xpass`` (the known failure no longer
      happens, so the entry is stale);
    - anything else: unchanged, no entry.
    """
    if raw_verdict not in (PASS, FAIL):
        return raw_verdict, reason, None
    if raw_verdict == PASS:
        rules, messages = (), ()
    entry = _first(registry, cell, broker_identity, peer_versions, rules, messages)
    if entry is None:
        return raw_verdict, reason, None
    if raw_verdict == FAIL:
        observed = " ".join(str(reason or "").split())
        text = f"{entry.reason} [known: {entry.id}]"
        if observed:
            text += f"; observed: {observed}"
        return entry.verdict, text, entry.id
    return (
        XPASS,
        f"known failure {entry.id} no longer happens (expected {entry.verdict}: {entry.reason})",
        entry.id,
    )
