"""AMQP values -> JSON-ready Python values, read straight off a ``proton.Data`` tree.

Why a walker of our own instead of ``Data.get_object()``: traces are JSON, so
every value must end up as plain ``str``/``int``/``float``/``bool``/``None``/
``list``/``dict``, and the well-known described types (source, target,
delivery states, errors) should read as dicts with the spec's field names.
Walking the tree once and converting on the way is both simpler and cheaper
than building proton's Python objects first and converting them afterwards.

Field *kinds* (``"uint"``, ``"symbols"``, ``"role"`` ...) name the AMQP type a
field has in the spec. The decoder checks loosely (any integer for an integer
kind, string or symbol for a string kind) and the encoder uses the exact type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from proton import Data

__all__ = [
    "BadValue",
    "COMPOSITES",
    "COMPOSITES_BY_NAME",
    "Composite",
    "read_value",
    "read_field",
    "read_composite_list",
    "summarize_message",
    "truncate_strings",
]

NULL = Data.NULL
BOOL = Data.BOOL
UBYTE = Data.UBYTE
BYTE = Data.BYTE
USHORT = Data.USHORT
SHORT = Data.SHORT
UINT = Data.UINT
INT = Data.INT
CHAR = Data.CHAR
ULONG = Data.ULONG
LONG = Data.LONG
TIMESTAMP = Data.TIMESTAMP
FLOAT = Data.FLOAT
DOUBLE = Data.DOUBLE
DECIMAL32 = Data.DECIMAL32
DECIMAL64 = Data.DECIMAL64
DECIMAL128 = Data.DECIMAL128
UUID = Data.UUID
BINARY = Data.BINARY
STRING = Data.STRING
SYMBOL = Data.SYMBOL
DESCRIBED = Data.DESCRIBED
ARRAY = Data.ARRAY
LIST = Data.LIST
MAP = Data.MAP

INTEGER_TYPES = frozenset({UBYTE, BYTE, USHORT, SHORT, UINT, INT, ULONG, LONG})

#: deepest nesting of lists/maps/described values we convert; deeper is "garbage"
MAX_DEPTH = 32

#: body strings longer than this are cut in message summaries
MAX_BODY_STRING = 200


class BadValue(Exception):
    """A value that does not fit the AMQP type system or the field's spec type.

    The codec turns it into a DecodeError carrying the frame's offset.
    """


# --------------------------------------------------------------------------- generic values


def _get_str(d: Data) -> str:
    try:
        return d.get_string()
    except UnicodeDecodeError as e:
        raise BadValue(f"string is not valid UTF-8 ({e.reason})") from None


def _get_sym(d: Data) -> str:
    try:
        return str(d.get_symbol())
    except UnicodeDecodeError:
        raise BadValue("symbol is not ASCII") from None


def _get_float(d: Data, t: int) -> float | str:
    f = float(d.get_float() if t == FLOAT else d.get_double())
    return f if math.isfinite(f) else str(f)


def _json_key(k: Any) -> str:
    """Map keys must be strings in JSON; other keys are written as their JSON text."""
    if isinstance(k, str):
        return k
    return json.dumps(k, sort_keys=True)


def _read_map(d: Data, depth: int) -> dict[str, Any]:
    n = d.get_map()
    if n % 2:
        raise BadValue("map with an odd number of elements")
    out: dict[str, Any] = {}
    d.enter()
    try:
        for _ in range(n // 2):
            t = d.next()
            k = read_value(d, t, depth)
            t = d.next()
            out[_json_key(k)] = read_value(d, t, depth)
    finally:
        d.exit()
    return out


def _read_list(d: Data, depth: int) -> list[Any]:
    n = d.get_list()
    out = []
    d.enter()
    try:
        for _ in range(n):
            t = d.next()
            out.append(read_value(d, t, depth))
    finally:
        d.exit()
    return out


def _read_descriptor(d: Data) -> int | str:
    t = d.next()
    if t == ULONG:
        return int(d.get_ulong())
    if t == SYMBOL:
        return _get_sym(d)
    raise BadValue("descriptor is neither ulong nor symbol")


def _read_array(d: Data, depth: int) -> list[Any]:
    n, described, _etype = d.get_array()
    out = []
    d.enter()
    try:
        if described:
            descriptor = _read_descriptor(d)
            for _ in range(n):
                t = d.next()
                out.append(_convert_described(descriptor, d, t, depth))
        else:
            for _ in range(n):
                t = d.next()
                out.append(read_value(d, t, depth))
    finally:
        d.exit()
    return out


def _read_described(d: Data, depth: int) -> Any:
    d.enter()
    try:
        descriptor = _read_descriptor(d)
        t = d.next()
        if t is None:
            raise BadValue("described value without a value")
        return _convert_described(descriptor, d, t, depth)
    finally:
        d.exit()


def _convert_described(descriptor: int | str, d: Data, t: int, depth: int) -> Any:
    """Convert the value node ``t`` of a described type with this descriptor."""
    comp = COMPOSITES.get(descriptor)
    if comp is None:
        return {"descriptor": descriptor, "value": read_value(d, t, depth)}
    return read_composite_list(comp, d, t, depth)


_SIMPLE: dict[int, Callable[[Data], Any]] = {
    BOOL: lambda d: bool(d.get_bool()),
    UBYTE: lambda d: int(d.get_ubyte()),
    BYTE: lambda d: int(d.get_byte()),
    USHORT: lambda d: int(d.get_ushort()),
    SHORT: lambda d: int(d.get_short()),
    UINT: lambda d: int(d.get_uint()),
    INT: lambda d: int(d.get_int()),
    ULONG: lambda d: int(d.get_ulong()),
    LONG: lambda d: int(d.get_long()),
    TIMESTAMP: lambda d: int(d.get_timestamp()),
    CHAR: lambda d: str(d.get_char()),
    FLOAT: lambda d: _get_float(d, FLOAT),
    DOUBLE: lambda d: _get_float(d, DOUBLE),
    DECIMAL32: lambda d: int(d.get_decimal32()),
    DECIMAL64: lambda d: int(d.get_decimal64()),
    DECIMAL128: lambda d: bytes(d.get_decimal128()).hex(),
    UUID: lambda d: str(d.get_uuid()),
    BINARY: lambda d: bytes(d.get_binary()).hex(),
    STRING: _get_str,
    SYMBOL: _get_sym,
}

_NESTED: dict[int, Callable[[Data, int], Any]] = {
    DESCRIBED: _read_described,
    ARRAY: _read_array,
    LIST: _read_list,
    MAP: _read_map,
}


def read_value(d: Data, t: int | None, depth: int = 0) -> Any:
    """Convert the current node (of type ``t``, as returned by ``d.next()``)."""
    if t == NULL:
        return None
    f = _SIMPLE.get(t)  # type: ignore[arg-type]
    if f is not None:
        return f(d)
    g = _NESTED.get(t)  # type: ignore[arg-type]
    if g is None:
        raise BadValue("missing or unknown value")
    if depth >= MAX_DEPTH:
        raise BadValue(f"values nested deeper than {MAX_DEPTH}")
    return g(d, depth + 1)


# --------------------------------------------------------------------------- field kinds
# A reader takes (data, type, depth) for a node that is known not to be null.


def _kind_int(d: Data, t: int, depth: int) -> int:
    if t not in INTEGER_TYPES:
        raise BadValue(f"expected an integer, got {Data.type_names.get(t, t)}")
    return _SIMPLE[t](d)


def _kind_bool(d: Data, t: int, depth: int) -> bool:
    if t != BOOL:
        raise BadValue(f"expected a boolean, got {Data.type_names.get(t, t)}")
    return bool(d.get_bool())


def _kind_role(d: Data, t: int, depth: int) -> str:
    return "receiver" if _kind_bool(d, t, depth) else "sender"


def _kind_str(d: Data, t: int, depth: int) -> str:
    if t == STRING:
        return _get_str(d)
    if t == SYMBOL:
        return _get_sym(d)
    raise BadValue(f"expected a string, got {Data.type_names.get(t, t)}")


def _kind_bin(d: Data, t: int, depth: int) -> str:
    if t != BINARY:
        raise BadValue(f"expected binary, got {Data.type_names.get(t, t)}")
    return bytes(d.get_binary()).hex()


def _kind_symbols(d: Data, t: int, depth: int) -> list[str]:
    """A 'multiple' symbol field: one symbol or an array of them, always a list here."""
    if t == SYMBOL or t == STRING:
        return [_kind_str(d, t, depth)]
    if t == ARRAY or t == LIST:
        items = read_value(d, t, depth)
        if not all(isinstance(x, str) for x in items):
            raise BadValue("expected symbols")
        return items
    raise BadValue(f"expected symbols, got {Data.type_names.get(t, t)}")


def _kind_map(d: Data, t: int, depth: int) -> dict[str, Any]:
    if t != MAP:
        raise BadValue(f"expected a map, got {Data.type_names.get(t, t)}")
    return _read_map(d, depth + 1)


def _kind_described(d: Data, t: int, depth: int) -> Any:
    if t != DESCRIBED:
        raise BadValue(f"expected a described value, got {Data.type_names.get(t, t)}")
    return _read_described(d, depth + 1)


def _kind_any(d: Data, t: int, depth: int) -> Any:
    return read_value(d, t, depth)


KIND_READERS: dict[str, Callable[[Data, int, int], Any]] = {
    "ubyte": _kind_int,
    "ushort": _kind_int,
    "uint": _kind_int,
    "ulong": _kind_int,
    "bool": _kind_bool,
    "role": _kind_role,
    "string": _kind_str,
    "symbol": _kind_str,
    "symbols": _kind_symbols,
    "binary": _kind_bin,
    "fields": _kind_map,
    "map": _kind_map,
    "source": _kind_described,
    "target": _kind_described,
    "state": _kind_described,
    "error": _kind_described,
    "any": _kind_any,
}


def read_field(kind: str, d: Data, t: int | None, depth: int = 0) -> Any:
    """Convert one list element according to its spec kind (``None`` for null)."""
    if t == NULL:
        return None
    if t is None:
        raise BadValue("list shorter than its count")
    return KIND_READERS[kind](d, t, depth)


# --------------------------------------------------------------------------- composites


class Composite:
    """A described list type from the spec: descriptor, name, (field, kind) pairs.

    ``tagged`` composites (delivery states) carry their name as ``"type"`` in the
    converted dict, so ``{"type": "accepted"}`` reads without a descriptor table.
    """

    __slots__ = ("code", "symbol", "name", "fields", "kinds", "readers", "tagged")

    def __init__(
        self, code: int, symbol: str, name: str, fields: tuple[tuple[str, str], ...], tagged: bool
    ) -> None:
        self.code = code
        self.symbol = symbol
        self.name = name
        self.fields = tuple(f for f, _ in fields)
        self.kinds = tuple(k for _, k in fields)
        self.readers = tuple(KIND_READERS[k] for k in self.kinds)
        self.tagged = tagged


def read_composite_list(comp: Composite, d: Data, t: int | None, depth: int) -> dict[str, Any]:
    """Read the list value of a composite into a dict with every spec field."""
    out: dict[str, Any] = {"type": comp.name} if comp.tagged else {}
    names = comp.fields
    if t == NULL:  # some encoders write e.g. accepted as a described null
        for name in names:
            out[name] = None
        return out
    if t != LIST:
        raise BadValue(f"{comp.name}: expected a list, got {Data.type_names.get(t, t)}")
    if depth >= MAX_DEPTH:
        raise BadValue(f"values nested deeper than {MAX_DEPTH}")
    n = d.get_list()
    if n > len(names):
        raise BadValue(f"{comp.name}: {n} fields, at most {len(names)} defined")
    readers = comp.readers
    d.enter()
    try:
        for i in range(n):
            t = d.next()
            if t == NULL:
                out[names[i]] = None
            elif t is None:
                raise BadValue(f"{comp.name}: list shorter than its count")
            else:
                try:
                    out[names[i]] = readers[i](d, t, depth + 1)
                except BadValue as e:
                    raise BadValue(f"{comp.name}.{names[i]}: {e}") from None
    finally:
        d.exit()
    for i in range(n, len(names)):
        out[names[i]] = None
    return out


_ADDR = ("address", "any")
_SOURCE_TARGET_COMMON = (
    _ADDR,
    ("durable", "uint"),
    ("expiry_policy", "symbol"),
    ("timeout", "uint"),
    ("dynamic", "bool"),
    ("dynamic_node_properties", "fields"),
)

# (code, symbolic descriptor, name, fields, tagged)
_COMPOSITE_TABLE: tuple[tuple[int, str, str, tuple[tuple[str, str], ...], bool], ...] = (
    (
        0x1D,
        "amqp:error:list",
        "error",
        (("condition", "symbol"), ("description", "string"), ("info", "fields")),
        False,
    ),
    (
        0x23,
        "amqp:received:list",
        "received",
        (("section_number", "uint"), ("section_offset", "ulong")),
        True,
    ),
    (0x24, "amqp:accepted:list", "accepted", (), True),
    (0x25, "amqp:rejected:list", "rejected", (("error", "error"),), True),
    (0x26, "amqp:released:list", "released", (), True),
    (
        0x27,
        "amqp:modified:list",
        "modified",
        (
            ("delivery_failed", "bool"),
            ("undeliverable_here", "bool"),
            ("message_annotations", "fields"),
        ),
        True,
    ),
    (
        0x28,
        "amqp:source:list",
        "source",
        _SOURCE_TARGET_COMMON
        + (
            ("distribution_mode", "symbol"),
            ("filter", "fields"),
            ("default_outcome", "state"),
            ("outcomes", "symbols"),
            ("capabilities", "symbols"),
        ),
        False,
    ),
    (
        0x29,
        "amqp:target:list",
        "target",
        _SOURCE_TARGET_COMMON + (("capabilities", "symbols"),),
        False,
    ),
    (0x33, "amqp:declared:list", "declared", (("txn_id", "binary"),), True),
    (
        0x34,
        "amqp:transactional-state:list",
        "transactional_state",
        (("txn_id", "binary"), ("outcome", "state")),
        True,
    ),
)

#: composites by numeric and by symbolic descriptor
COMPOSITES: dict[int | str, Composite] = {}
#: composites by our name ("accepted", "source" ...), for the encoder
COMPOSITES_BY_NAME: dict[str, Composite] = {}
for _code, _sym, _name, _fields, _tagged in _COMPOSITE_TABLE:
    _c = Composite(_code, _sym, _name, _fields, _tagged)
    COMPOSITES[_code] = COMPOSITES[_sym] = COMPOSITES_BY_NAME[_name] = _c


# --------------------------------------------------------------------------- messages

_SECTION_HEADER = 0x70
_SECTION_PROPERTIES = 0x73
_SECTION_DATA = 0x75
_SECTION_SEQUENCE = 0x76
_SECTION_VALUE = 0x77
_SECTION_SYMBOLS = {
    "amqp:header:list": 0x70,
    "amqp:delivery-annotations:map": 0x71,
    "amqp:message-annotations:map": 0x72,
    "amqp:properties:list": 0x73,
    "amqp:application-properties:map": 0x74,
    "amqp:data:binary": 0x75,
    "amqp:amqp-sequence:list": 0x76,
    "amqp:amqp-value:*": 0x77,
    "amqp:footer:map": 0x78,
}


def truncate_strings(v: Any, limit: int = MAX_BODY_STRING) -> Any:
    """Cut every string longer than ``limit`` (recursively) so bodies stay readable."""
    if isinstance(v, str):
        if len(v) > limit:
            return f"{v[:limit]}...({len(v)} chars)"
        return v
    if isinstance(v, list):
        return [truncate_strings(x, limit) for x in v]
    if isinstance(v, dict):
        return {k: truncate_strings(x, limit) for k, x in v.items()}
    return v


def summarize_message(payload: bytes | memoryview) -> dict[str, Any] | None:
    """Decode a complete bare/annotated message into the fields traces care about.

    Returns ``None`` when the payload is not a well-formed sequence of message
    sections: the summary is a convenience, a bad payload is not a framing error.
    """
    d = Data()
    view = memoryview(payload)
    pos = 0
    out: dict[str, Any] = {
        "id": None,
        "to": None,
        "reply_to": None,
        "correlation_id": None,
        "subject": None,
        "body": None,
    }
    data_parts: list[bytes] = []
    sequences: list[Any] = []
    value: Any = None
    has_value = False
    try:
        while pos < len(view):
            d.clear()
            pos += d.decode(view[pos:])
            d.rewind()
            if d.next() != DESCRIBED:
                return None
            d.enter()
            descriptor = _read_descriptor(d)
            if isinstance(descriptor, str):
                descriptor = _SECTION_SYMBOLS.get(descriptor, -1)
            t = d.next()
            if descriptor == _SECTION_PROPERTIES:
                props = _read_list(d, 1) if t == LIST else []
                props += [None] * (6 - len(props))
                out["id"] = props[0]
                out["to"] = props[2]
                out["subject"] = props[3]
                out["reply_to"] = props[4]
                out["correlation_id"] = props[5]
            elif descriptor == _SECTION_DATA:
                if t != BINARY:
                    return None
                data_parts.append(bytes(d.get_binary()))
            elif descriptor == _SECTION_SEQUENCE:
                sequences.extend(read_value(d, t, 1) or [])
            elif descriptor == _SECTION_VALUE:
                value = read_value(d, t, 1)
                has_value = True
            elif not (0x70 <= descriptor <= 0x78):  # type: ignore[operator]
                return None
            d.exit()
    except Exception:  # any proton or conversion error means "not a message"
        return None
    if has_value:
        body: Any = value
    elif data_parts:
        body = b"".join(data_parts).hex()
    elif sequences:
        body = sequences
    else:
        body = None
    out["body"] = truncate_strings(body)
    return out
