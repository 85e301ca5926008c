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
The composite types' rows are in :mod:`.composites`, node access on the tree
in :mod:`.proton_adapter`, message summaries in :mod:`.message`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from proton import Data

from .composites import COMPOSITES, Composite
from .proton_adapter import (
    FAST_PATH,
    int_getters,
    p_array_described,
    p_enter,
    p_exit,
    p_get_array,
    p_get_binary,
    p_get_bool,
    p_get_char,
    p_get_decimal32,
    p_get_decimal64,
    p_get_decimal128,
    p_get_double,
    p_get_float,
    p_get_list,
    p_get_map,
    p_get_string,
    p_get_symbol,
    p_get_timestamp,
    p_get_uint,
    p_get_ulong,
    p_get_uuid,
    p_next,
    p_type,
)

__all__ = [
    "BadValue",
    "KIND_READERS",
    "MAX_DEPTH",
    "get_sym",
    "next_type",
    "read_composite_list",
    "read_descriptor",
    "read_value",
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

#: deepest nesting of lists/maps/described values we convert; deeper is "garbage"
MAX_DEPTH = 32


class BadValue(Exception):
    """A value that does not fit the AMQP type system or the field's spec type.

    The codec turns it into a DecodeError carrying the frame's offset.
    """


# --------------------------------------------------------------------------- generic values


def get_str(h: Any) -> str:
    try:
        return str(p_get_string(h))
    except UnicodeDecodeError as e:
        raise BadValue(f"string is not valid UTF-8 ({e.reason})") from None


def get_sym(h: Any) -> str:
    try:
        return str(p_get_symbol(h))
    except UnicodeDecodeError:
        raise BadValue("symbol is not ASCII") from None


def get_binary_hex(h: Any) -> str:
    return bytes(p_get_binary(h)).hex()


def _finite(f: float) -> float | str:
    return f if math.isfinite(f) else str(f)


def _get_char(h: Any) -> str:
    try:
        return chr(p_get_char(h))
    except (ValueError, OverflowError):
        raise BadValue("char is not a Unicode code point") from None


def _json_key(k: Any) -> str:
    """Map keys must be strings in JSON; other keys are written as their JSON text."""
    if isinstance(k, str):
        return k
    return json.dumps(k, sort_keys=True)


def _read_map(h: Any, depth: int) -> dict[str, Any]:
    n = p_get_map(h)
    if n % 2:
        raise BadValue("map with an odd number of elements")
    out: dict[str, Any] = {}
    p_enter(h)
    try:
        for _ in range(n // 2):
            k = read_value(h, next_type(h), depth)
            out[_json_key(k)] = read_value(h, next_type(h), depth)
    finally:
        p_exit(h)
    return out


def next_type(h: Any) -> int | None:
    """Step to the next sibling; its type, or None when there is none."""
    if not p_next(h):
        return None
    return p_type(h)


def _read_list(h: Any, depth: int) -> list[Any]:
    n = p_get_list(h)
    out = []
    p_enter(h)
    try:
        for _ in range(n):
            out.append(read_value(h, next_type(h), depth))
    finally:
        p_exit(h)
    return out


def read_descriptor(h: Any) -> int | str:
    """Read the descriptor of a described node that has just been entered."""
    t = next_type(h)
    if t == ULONG:
        return int(p_get_ulong(h))
    if t == SYMBOL:
        return get_sym(h)
    raise BadValue("descriptor is neither ulong nor symbol")


def _read_array(h: Any, depth: int) -> list[Any]:
    n = p_get_array(h)
    described = p_array_described(h)
    out = []
    p_enter(h)
    try:
        if described:
            descriptor = read_descriptor(h)
            for _ in range(n):
                out.append(_convert_described(descriptor, h, next_type(h), depth))
        else:
            for _ in range(n):
                out.append(read_value(h, next_type(h), depth))
    finally:
        p_exit(h)
    return out


def _read_described(h: Any, depth: int) -> Any:
    p_enter(h)
    try:
        descriptor = read_descriptor(h)
        t = next_type(h)
        if t is None:
            raise BadValue("described value without a value")
        return _convert_described(descriptor, h, t, depth)
    finally:
        p_exit(h)


def _convert_described(descriptor: int | str, h: Any, t: int | None, depth: int) -> Any:
    """Convert the value node ``t`` of a described type with this descriptor."""
    comp = COMPOSITES.get(descriptor)
    if comp is None:
        return {"descriptor": descriptor, "value": read_value(h, t, depth)}
    return read_composite_list(comp, h, t, depth)


def _int_reader(g: Callable[[Any], int]) -> Callable[[Any], int]:
    return lambda h: int(g(h))


_SIMPLE: dict[int, Callable[[Any], Any]] = {
    BOOL: lambda h: bool(p_get_bool(h)),
    **{t: g if FAST_PATH else _int_reader(g) for t, g in int_getters.items()},
    TIMESTAMP: lambda h: int(p_get_timestamp(h)),
    CHAR: _get_char,
    FLOAT: lambda h: _finite(float(p_get_float(h))),
    DOUBLE: lambda h: _finite(float(p_get_double(h))),
    DECIMAL32: lambda h: int(p_get_decimal32(h)),
    DECIMAL64: lambda h: int(p_get_decimal64(h)),
    DECIMAL128: lambda h: bytes(p_get_decimal128(h)).hex(),
    UUID: lambda h: str(p_get_uuid(h)),
    BINARY: get_binary_hex,
    STRING: get_str,
    SYMBOL: get_sym,
}

_NESTED: dict[int, Callable[[Any, int], Any]] = {
    DESCRIBED: _read_described,
    ARRAY: _read_array,
    LIST: _read_list,
    MAP: _read_map,
}


def read_value(h: Any, t: int | None, depth: int = 0) -> Any:
    """Convert the current node (of type ``t``, as returned by ``p_type``)."""
    if t == NULL:
        return None
    f = _SIMPLE.get(t)  # type: ignore[arg-type]
    if f is not None:
        return f(h)
    g = _NESTED.get(t)  # type: ignore[arg-type]
    if g is None:
        raise BadValue("missing or unknown value")
    if depth >= MAX_DEPTH:
        raise BadValue(f"values nested deeper than {MAX_DEPTH}")
    return g(h, depth + 1)


# --------------------------------------------------------------------------- field kinds
# A reader takes (handle, type, depth) for a node that is known not to be null.


def _tname(t: int) -> str:
    return Data.type_names.get(t, str(t))


def _kind_int(h: Any, t: int, depth: int) -> int:
    g = int_getters.get(t)
    if g is None:
        raise BadValue(f"expected an integer, got {_tname(t)}")
    return int(g(h))


def _kind_uint(h: Any, t: int, depth: int, _uint: Callable[[Any], int] = p_get_uint) -> int:
    # uint is what the spec's counters and handles are: the common case first
    if t == UINT:
        return int(_uint(h))
    return _kind_int(h, t, depth)


def _kind_bool(h: Any, t: int, depth: int, _get: Callable[[Any], bool] = p_get_bool) -> bool:
    if t != BOOL:
        raise BadValue(f"expected a boolean, got {_tname(t)}")
    return bool(_get(h))


def _kind_role(h: Any, t: int, depth: int) -> str:
    return "receiver" if _kind_bool(h, t, depth) else "sender"


def _kind_str(h: Any, t: int, depth: int) -> str:
    if t == STRING:
        return get_str(h)
    if t == SYMBOL:
        return get_sym(h)
    raise BadValue(f"expected a string, got {_tname(t)}")


def _kind_bin(h: Any, t: int, depth: int) -> str:
    if t != BINARY:
        raise BadValue(f"expected binary, got {_tname(t)}")
    return get_binary_hex(h)


def _kind_symbols(h: Any, t: int, depth: int) -> list[str]:
    """A 'multiple' symbol field: one symbol or an array of them, always a list here."""
    if t == SYMBOL or t == STRING:
        return [_kind_str(h, t, depth)]
    if t == ARRAY or t == LIST:
        items = read_value(h, t, depth)
        if not all(isinstance(x, str) for x in items):
            raise BadValue("expected symbols")
        return items
    raise BadValue(f"expected symbols, got {_tname(t)}")


def _kind_map(h: Any, t: int, depth: int) -> dict[str, Any]:
    if t != MAP:
        raise BadValue(f"expected a map, got {_tname(t)}")
    if depth >= MAX_DEPTH:
        raise BadValue(f"values nested deeper than {MAX_DEPTH}")
    return _read_map(h, depth + 1)


def _kind_described(h: Any, t: int, depth: int) -> Any:
    if t != DESCRIBED:
        raise BadValue(f"expected a described value, got {_tname(t)}")
    if depth >= MAX_DEPTH:
        raise BadValue(f"values nested deeper than {MAX_DEPTH}")
    return _read_described(h, depth + 1)


def _kind_any(h: Any, t: int, depth: int) -> Any:
    return read_value(h, t, depth)


KIND_READERS: dict[str, Callable[[Any, int, int], Any]] = {
    "ubyte": _kind_int,
    "ushort": _kind_int,
    "uint": _kind_uint,
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


def read_composite_list(comp: Composite, h: Any, t: int | None, depth: int) -> dict[str, Any]:
    """Read the list value of a composite into a dict with every spec field."""
    names = comp.fields
    out: dict[str, Any] = {"type": comp.name} if comp.tagged else {}
    out.update(dict.fromkeys(names))
    if t == NULL:  # some encoders write e.g. accepted as a described null
        return out
    if t != LIST:
        raise BadValue(f"{comp.name}: expected a list, got {_tname(t) if t else 'nothing'}")
    if depth >= MAX_DEPTH:
        raise BadValue(f"values nested deeper than {MAX_DEPTH}")
    n = p_get_list(h)
    if n > len(names):
        raise BadValue(f"{comp.name}: {n} fields, at most {len(names)} defined")
    readers = _COMPOSITE_READERS[comp]
    p_enter(h)
    try:
        for i in range(n):
            if not p_next(h):
                raise BadValue(f"{comp.name}: list shorter than its count")
            t = p_type(h)
            if t != NULL:
                try:
                    out[names[i]] = readers[i](h, t, depth + 1)
                except BadValue as e:
                    raise BadValue(f"{comp.name}.{names[i]}: {e}") from None
    finally:
        p_exit(h)
    return out


#: the field readers of each composite, resolved once
_COMPOSITE_READERS: dict[Composite, tuple[Callable[[Any, int, int], Any], ...]] = {
    comp: tuple(KIND_READERS[k] for k in comp.kinds) for comp in COMPOSITES.values()
}
