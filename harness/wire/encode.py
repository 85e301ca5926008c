"""Build protocol headers and frames from performative names and field dicts.

For tests (feed the decoder known frames) and for the harness itself (a probe
that sends an open, a fault rule that injects a detach). Field values take the
same shape the decoder produces (``role="receiver"``, binary as hex strings or
bytes, source/target/states/errors as dicts), so ``encode_frame(name,
frame.performative.fields)`` rebuilds an equivalent frame.
"""

from __future__ import annotations

import struct
from typing import Any

from proton import Array, Data

from .composites import COMPOSITES_BY_NAME, Composite
from .performatives import BY_NAME

__all__ = ["encode_header", "encode_frame", "encode_empty_frame", "encode_performative"]


def encode_header(protocol_id: int = 0) -> bytes:
    """The 8-byte protocol header: 0 AMQP, 2 TLS, 3 SASL."""
    return b"AMQP" + bytes((protocol_id, 1, 0, 0))


def encode_empty_frame(channel: int = 0) -> bytes:
    """An empty AMQP frame: the heartbeat."""
    return struct.pack(">IBBH", 8, 2, 0, channel)


def encode_frame(
    performative_name: str,
    fields: dict[str, Any] | None = None,
    channel: int = 0,
    payload: bytes = b"",
    frame_type: int | None = None,
) -> bytes:
    """One frame carrying the named performative (and a transfer's payload).

    ``frame_type`` defaults to the performative's own (1 for ``sasl_*``, else 0).
    Unknown field names raise ValueError: a typo should not silently vanish.
    """
    spec = BY_NAME.get(performative_name)
    if spec is None:
        raise ValueError(f"unknown performative {performative_name!r}")
    if frame_type is None:
        frame_type = spec.frame_type
    body = encode_performative(performative_name, fields or {}) + bytes(payload)
    return struct.pack(">IBBH", 8 + len(body), 2, frame_type, channel) + body


def encode_performative(performative_name: str, fields: dict[str, Any]) -> bytes:
    """The AMQP encoding of a performative: described(ulong code, list of fields)."""
    spec = BY_NAME[performative_name]
    unknown = set(fields) - set(spec.fields)
    if unknown:
        raise ValueError(f"{performative_name} has no field(s) {', '.join(sorted(unknown))}")
    d = Data()
    d.put_described()
    d.enter()
    d.put_ulong(spec.code)
    _put_list(d, spec.fields, spec.kinds, fields)
    d.exit()
    return d.encode()


def _put_list(d: Data, names: tuple[str, ...], kinds: tuple[str, ...], values: dict) -> None:
    present = [i for i, n in enumerate(names) if values.get(n) is not None]
    count = present[-1] + 1 if present else 0  # trailing nulls are left off, as proton does
    d.put_list()
    d.enter()
    for i in range(count):
        _put_kind(d, kinds[i], values.get(names[i]))
    d.exit()


def _binary(v: Any) -> bytes:
    if isinstance(v, str):
        return bytes.fromhex(v)
    return bytes(v)


def _put_kind(d: Data, kind: str, v: Any) -> None:
    if v is None:
        d.put_null()
    elif kind == "uint":
        d.put_uint(v)
    elif kind == "ushort":
        d.put_ushort(v)
    elif kind == "ubyte":
        d.put_ubyte(v)
    elif kind == "ulong":
        d.put_ulong(v)
    elif kind == "bool":
        d.put_bool(bool(v))
    elif kind == "role":
        d.put_bool(v == "receiver" if isinstance(v, str) else bool(v))
    elif kind == "string":
        d.put_string(v)
    elif kind == "symbol":
        d.put_symbol(v)
    elif kind == "symbols":
        items = [v] if isinstance(v, str) else list(v)
        d.put_array(False, Data.SYMBOL)
        d.enter()
        for s in items:
            d.put_symbol(s)
        d.exit()
    elif kind == "binary":
        d.put_binary(_binary(v))
    elif kind in ("fields", "map"):
        _put_map(d, v, symbol_keys=kind == "fields")
    elif kind in ("source", "target", "error"):
        _put_composite(d, COMPOSITES_BY_NAME[kind], v)
    elif kind == "state":
        comp = COMPOSITES_BY_NAME.get(v.get("type", "")) if isinstance(v, dict) else None
        if comp is None or not comp.tagged:
            _put_any(d, v)
        else:
            _put_composite(d, comp, {k: x for k, x in v.items() if k != "type"})
    else:  # "any"
        _put_any(d, v)


def _put_composite(d: Data, comp: Composite, v: Any) -> None:
    if not isinstance(v, dict):
        _put_any(d, v)
        return
    d.put_described()
    d.enter()
    d.put_ulong(comp.code)
    _put_list(d, comp.fields, comp.kinds, v)
    d.exit()


def _put_map(d: Data, v: dict, symbol_keys: bool) -> None:
    d.put_map()
    d.enter()
    for k, x in v.items():
        if symbol_keys and isinstance(k, str):
            d.put_symbol(k)
        else:
            _put_any(d, k)
        _put_any(d, x)
    d.exit()


def _put_any(d: Data, v: Any) -> None:
    """Encode a JSON-shaped value; proton's own types (symbol, ulong ...) keep their type."""
    if isinstance(v, dict):
        if set(v) == {"descriptor", "value"}:
            desc = v["descriptor"]
            d.put_described()
            d.enter()
            if isinstance(desc, str):
                d.put_symbol(desc)
            else:
                d.put_ulong(desc)
            _put_any(d, v["value"])
            d.exit()
        else:
            _put_map(d, v, symbol_keys=False)
    elif isinstance(v, list | tuple) and not isinstance(v, Array):
        d.put_list()
        d.enter()
        for x in v:
            _put_any(d, x)
        d.exit()
    else:  # None, bool, int (long), float, str, bytes, uuid, proton's typed values
        d.put_object(v)
