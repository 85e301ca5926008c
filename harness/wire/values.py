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
import threading
from collections.abc import Callable
from typing import Any

from proton import Data

__all__ = [
    "BadValue",
    "COMPOSITES",
    "COMPOSITES_BY_NAME",
    "Composite",
    "FAST_PATH",
    "handle",
    "read_value",
    "read_descriptor",
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


# --------------------------------------------------------------------------- node access
# The hot path calls proton-c through cproton (the cffi module proton's own
# Data class wraps) on the raw pn_data_t handle: the Data methods add a
# Python call and a wrapper object per node, which doubled the cost of a
# frame. If cproton is not importable (another proton build), the same
# operations run through the public Data methods instead.

try:
    import cproton as _cp

    def handle(d: Data) -> Any:
        """The object the ``p_*`` functions operate on for this Data."""
        return d._data

    p_clear = _cp.pn_data_clear
    p_decode = _cp.pn_data_decode  # (h, buffer) -> bytes used, < 0 on error
    p_rewind = _cp.pn_data_rewind
    p_next = _cp.pn_data_next  # -> bool
    p_type = _cp.pn_data_type  # -> type code, -1 for no node
    p_enter = _cp.pn_data_enter
    p_exit = _cp.pn_data_exit
    p_get_list = _cp.pn_data_get_list
    p_get_map = _cp.pn_data_get_map
    p_get_array = _cp.pn_data_get_array
    p_array_described = _cp.pn_data_is_array_described
    p_get_bool = _cp.pn_data_get_bool
    p_get_ulong = _cp.pn_data_get_ulong
    _int_getters = {
        UBYTE: _cp.pn_data_get_ubyte,
        BYTE: _cp.pn_data_get_byte,
        USHORT: _cp.pn_data_get_ushort,
        SHORT: _cp.pn_data_get_short,
        UINT: _cp.pn_data_get_uint,
        INT: _cp.pn_data_get_int,
        ULONG: _cp.pn_data_get_ulong,
        LONG: _cp.pn_data_get_long,
    }
    _p_get_uint = _cp.pn_data_get_uint
    _p_get_timestamp = _cp.pn_data_get_timestamp
    _p_get_char = _cp.pn_data_get_char  # code point
    _p_get_float = _cp.pn_data_get_float
    _p_get_double = _cp.pn_data_get_double
    _p_get_decimal32 = _cp.pn_data_get_decimal32
    _p_get_decimal64 = _cp.pn_data_get_decimal64
    _p_get_decimal128 = _cp.pn_data_get_decimal128
    _p_get_uuid = _cp.pn_data_get_uuid
    _p_get_binary = _cp.pn_data_get_binary  # memoryview into the Data
    _p_get_string = _cp.pn_data_get_string
    _p_get_symbol = _cp.pn_data_get_symbol
    FAST_PATH = True
except (ImportError, AttributeError):  # pragma: no cover - exercised by a subprocess test

    def handle(d: Data) -> Any:
        return d

    def _decode(d: Data, buf: Any) -> int:
        try:
            return d.decode(bytes(buf))
        except Exception:
            return -1

    p_clear = Data.clear
    p_decode = _decode
    p_rewind = Data.rewind
    p_next = Data.next  # returns the type or None: truthy enough (no type code is 0)
    p_type = lambda d: -1 if (t := d.type()) is None else t  # noqa: E731
    p_enter = Data.enter
    p_exit = Data.exit
    p_get_list = Data.get_list
    p_get_map = Data.get_map
    p_get_array = lambda d: d.get_array()[0]  # noqa: E731
    p_array_described = lambda d: d.get_array()[1]  # noqa: E731
    p_get_bool = Data.get_bool
    p_get_ulong = Data.get_ulong
    _int_getters = {
        UBYTE: Data.get_ubyte,
        BYTE: Data.get_byte,
        USHORT: Data.get_ushort,
        SHORT: Data.get_short,
        UINT: Data.get_uint,
        INT: Data.get_int,
        ULONG: Data.get_ulong,
        LONG: Data.get_long,
    }
    _p_get_uint = Data.get_uint
    _p_get_timestamp = Data.get_timestamp
    _p_get_char = lambda d: ord(d.get_char())  # noqa: E731
    _p_get_float = Data.get_float
    _p_get_double = Data.get_double
    _p_get_decimal32 = Data.get_decimal32
    _p_get_decimal64 = Data.get_decimal64
    _p_get_decimal128 = Data.get_decimal128
    _p_get_uuid = Data.get_uuid
    _p_get_binary = Data.get_binary
    _p_get_string = Data.get_string
    _p_get_symbol = Data.get_symbol
    FAST_PATH = False


# --------------------------------------------------------------------------- generic values


def get_str(h: Any) -> str:
    try:
        return str(_p_get_string(h))
    except UnicodeDecodeError as e:
        raise BadValue(f"string is not valid UTF-8 ({e.reason})") from None


def get_sym(h: Any) -> str:
    try:
        return str(_p_get_symbol(h))
    except UnicodeDecodeError:
        raise BadValue("symbol is not ASCII") from None


def get_binary_hex(h: Any) -> str:
    return bytes(_p_get_binary(h)).hex()


def _finite(f: float) -> float | str:
    return f if math.isfinite(f) else str(f)


def _get_char(h: Any) -> str:
    try:
        return chr(_p_get_char(h))
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
            k = read_value(h, _next_type(h), depth)
            out[_json_key(k)] = read_value(h, _next_type(h), depth)
    finally:
        p_exit(h)
    return out


def _next_type(h: Any) -> int | None:
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
            out.append(read_value(h, _next_type(h), depth))
    finally:
        p_exit(h)
    return out


def read_descriptor(h: Any) -> int | str:
    """Read the descriptor of a described node that has just been entered."""
    t = _next_type(h)
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
                out.append(_convert_described(descriptor, h, _next_type(h), depth))
        else:
            for _ in range(n):
                out.append(read_value(h, _next_type(h), depth))
    finally:
        p_exit(h)
    return out


def _read_described(h: Any, depth: int) -> Any:
    p_enter(h)
    try:
        descriptor = read_descriptor(h)
        t = _next_type(h)
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
    **{t: g if FAST_PATH else _int_reader(g) for t, g in _int_getters.items()},
    TIMESTAMP: lambda h: int(_p_get_timestamp(h)),
    CHAR: _get_char,
    FLOAT: lambda h: _finite(float(_p_get_float(h))),
    DOUBLE: lambda h: _finite(float(_p_get_double(h))),
    DECIMAL32: lambda h: int(_p_get_decimal32(h)),
    DECIMAL64: lambda h: int(_p_get_decimal64(h)),
    DECIMAL128: lambda h: bytes(_p_get_decimal128(h)).hex(),
    UUID: lambda h: str(_p_get_uuid(h)),
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
    g = _int_getters.get(t)
    if g is None:
        raise BadValue(f"expected an integer, got {_tname(t)}")
    return int(g(h))


def _kind_uint(h: Any, t: int, depth: int, _uint: Callable[[Any], int] = _p_get_uint) -> int:
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
    readers = comp.readers
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


_local = threading.local()


def _read_properties(h: Any) -> list[Any]:
    """The first six fields of the properties section: message-id .. correlation-id."""
    n = min(p_get_list(h), 6)
    out = [None] * 6
    p_enter(h)
    try:
        for i in range(n):
            out[i] = read_value(h, _next_type(h), 1)
    finally:
        p_exit(h)
    return out


def summarize_message(payload: bytes | memoryview) -> dict[str, Any] | None:
    """Decode a complete bare/annotated message into the fields traces care about.

    Returns ``None`` when the payload is not a well-formed sequence of message
    sections: the summary is a convenience, a bad payload is not a framing error.
    """
    d = getattr(_local, "data", None)
    if d is None:  # one Data per thread, reused: allocating one costs as much as a section
        d = _local.data = Data()
    h = handle(d)
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
            p_clear(h)
            used = p_decode(h, view[pos:])
            if used <= 0:
                return None
            pos += used
            p_rewind(h)
            if _next_type(h) != DESCRIBED:
                return None
            p_enter(h)
            descriptor = read_descriptor(h)
            if isinstance(descriptor, str):
                descriptor = _SECTION_SYMBOLS.get(descriptor, -1)
            t = _next_type(h)
            if descriptor == _SECTION_PROPERTIES:
                props = _read_properties(h) if t == LIST else [None] * 6
                out["id"] = props[0]
                out["to"] = props[2]
                out["subject"] = props[3]
                out["reply_to"] = props[4]
                out["correlation_id"] = props[5]
            elif descriptor == _SECTION_DATA:
                if t != BINARY:
                    return None
                data_parts.append(bytes(_p_get_binary(h)))
            elif descriptor == _SECTION_SEQUENCE:
                sequences.extend(read_value(h, t, 1) or [])
            elif descriptor == _SECTION_VALUE:
                value = read_value(h, t, 1)
                has_value = True
            elif not (0x70 <= descriptor <= 0x78):  # type: ignore[operator]
                return None
            p_exit(h)
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
