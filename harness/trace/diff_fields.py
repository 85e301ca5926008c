"""What counts as a difference between two frames, for ``interop diff``.

Two runs always differ in container ids, link names, delivery tags, host
names, generated message ids and dynamic addresses, and a field sent with
its spec default means the same as one left out. This module removes that
noise: ``normalized()`` flattens a frame's fields into ``a.b`` paths without
it, ``field_changes()`` compares two such dicts, ``placeholders()`` finds the
per-run values (dynamic addresses, the cell's own queue) of one trace.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from harness.trace.model import FRAME, HARNESS, TraceEvent

__all__ = ["IGNORED_FIELDS", "field_changes", "normalized", "placeholders"]

# performative -> field paths never compared (they differ on every run)
IGNORED_FIELDS: dict[str, frozenset[str]] = {
    "open": frozenset({"container_id", "hostname"}),
    "attach": frozenset({"name"}),
    # tags are opaque per run; payload sizes differ with every encoder
    "transfer": frozenset({"delivery_tag", "payload_size"}),
    # session counters follow from how many transfers went before
    "flow": frozenset({"next_incoming_id", "next_outgoing_id"}),
    "sasl_init": frozenset({"hostname", "initial_response"}),
}
# AMQP 1.0 defaults: a field sent with its default value means the same as one left out
_DEFAULTS: dict[str, dict[str, Any]] = {
    "open": {"max_frame_size": 4294967295, "channel_max": 65535},
    "begin": {"handle_max": 4294967295},
    "attach": {
        "snd_settle_mode": 2,
        "rcv_settle_mode": 0,
        "max_message_size": 0,
        "incomplete_unsettled": False,
        "initial_delivery_count": None,
    },
    "flow": {"drain": False, "echo": False},
    "transfer": {
        "settled": False,
        "more": False,
        "aborted": False,
        "resume": False,
        "batchable": False,
        "message_format": 0,
    },
    "disposition": {"settled": False, "batchable": False},
    "detach": {"closed": False},
}
_TERMINUS_DEFAULTS = {"durable": 0, "timeout": 0, "dynamic": False, "expiry_policy": "session-end"}
# values that are generated per run: uuids and long hex runs in string ids
_GENERATED = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12,}", re.I
)
_ID_PATHS = ("message.id", "message.correlation_id")


def placeholders(events: Sequence[TraceEvent]) -> dict[str, str]:
    """Values that always differ between two cells, and what to show instead.

    The addresses a node assigned to dynamic termini, and the cell's own queue
    name (unique per cell so cells can share a broker; the runner records it).
    """
    out = {a: "<dynamic>" for a in _dynamic_addresses(events)}
    for e in events:
        if e.kind == HARNESS and e.name == "cell" and isinstance(e.fields.get("address"), str):
            out.setdefault(e.fields["address"], "<queue>")
    return out


def _dynamic_addresses(events: Sequence[TraceEvent]) -> set[str]:
    """Addresses a node assigned to dynamic termini (answers to dynamic attaches)."""
    dynamic_links: set[tuple[str | None, Any]] = set()
    for e in events:
        if e.kind == FRAME and e.name == "attach":
            for term in ("source", "target"):
                value = e.fields.get(term)
                if isinstance(value, dict) and value.get("dynamic"):
                    dynamic_links.add((e.conn, e.fields.get("name")))
    found: set[str] = set()
    for e in events:
        if (
            e.kind == FRAME
            and e.name == "attach"
            and (e.conn, e.fields.get("name")) in dynamic_links
        ):
            for term in ("source", "target"):
                value = e.fields.get(term)
                if isinstance(value, dict) and isinstance(value.get("address"), str):
                    if value["address"]:
                        found.add(value["address"])
    return found


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix] = value


def normalized(e: TraceEvent, dynamic: dict[str, str]) -> dict[str, Any]:
    """The frame's fields as flat ``a.b`` paths, minus what always differs or means the default."""
    flat: dict[str, Any] = {}
    _flatten(e.fields, "", flat)
    ignored = IGNORED_FIELDS.get(e.name, frozenset())
    out: dict[str, Any] = {}
    for path, value in flat.items():
        if path in ignored or path.split(".")[0] in ignored:
            continue
        if isinstance(value, str):
            if value in dynamic:
                value = dynamic[value]
            elif path in _ID_PATHS and _GENERATED.search(value):
                value = "<generated>"
            elif _GENERATED.search(value) and path.endswith(("address", "reply_to", "to")):
                value = "<generated>"
        if value is None or value == {}:
            continue  # AMQP does not tell a null field from a missing one
        head, _, tail = path.partition(".")
        if tail and head in ("source", "target"):
            if tail in _TERMINUS_DEFAULTS and _same(value, _TERMINUS_DEFAULTS[tail]):
                continue
        elif path in _DEFAULTS.get(e.name, {}) and _same(value, _DEFAULTS[e.name][path]):
            continue
        out[path] = value
    # same meaning, different spelling: a range of one, a receiver's unused count
    if e.name == "disposition" and out.get("last") == out.get("first"):
        out.pop("last", None)
    if e.name == "attach" and e.fields.get("role") == "receiver":
        out.pop("initial_delivery_count", None)
    return out


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def field_changes(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(path, value in a, value in b) for each path whose values differ (type included)."""
    out = []
    for path in list(a) + [p for p in b if p not in a]:
        va, vb = a.get(path), b.get(path)
        if va != vb or type(va) is not type(vb):
            out.append((path, va, vb))
    return out
