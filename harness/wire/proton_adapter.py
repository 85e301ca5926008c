"""The one place that reaches past proton's public API: node access on a ``Data`` tree.

Why this module exists: decoding a frame walks a ``proton.Data`` tree node by
node, and the public ``Data`` methods add a Python call and a wrapper object
per node, which doubled the cost of a frame. So the hot path calls proton-c
through ``cproton`` (the cffi module proton's own ``Data`` class wraps) on the
raw ``pn_data_t`` handle (``Data._data``, a private attribute). Both are
proton internals that may change or be missing in another proton build, so
they are confined here, behind plain functions with one meaning each:

* ``handle(d)``: the object the ``p_*`` functions operate on for a ``Data``;
* ``p_*``: clear, decode, rewind, step, enter/exit and the typed getters;
* ``FAST_PATH``: whether the ``cproton`` functions are in use.

When ``cproton`` cannot be imported, the same functions run through the public
``Data`` methods instead (tests/wire/test_fallback.py checks both decode the
same). Nothing else in harness/ imports ``cproton`` or ``proton._*``
(tests/test_layout.py checks that).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proton import Data

__all__ = [
    "FAST_PATH",
    "handle",
    "int_getters",
    "p_array_described",
    "p_clear",
    "p_decode",
    "p_enter",
    "p_exit",
    "p_get_array",
    "p_get_binary",
    "p_get_bool",
    "p_get_char",
    "p_get_decimal32",
    "p_get_decimal64",
    "p_get_decimal128",
    "p_get_double",
    "p_get_float",
    "p_get_list",
    "p_get_map",
    "p_get_string",
    "p_get_symbol",
    "p_get_timestamp",
    "p_get_uint",
    "p_get_ulong",
    "p_get_uuid",
    "p_next",
    "p_rewind",
    "p_type",
]

int_getters: dict[int, Callable[[Any], int]]

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
    int_getters = {
        Data.UBYTE: _cp.pn_data_get_ubyte,
        Data.BYTE: _cp.pn_data_get_byte,
        Data.USHORT: _cp.pn_data_get_ushort,
        Data.SHORT: _cp.pn_data_get_short,
        Data.UINT: _cp.pn_data_get_uint,
        Data.INT: _cp.pn_data_get_int,
        Data.ULONG: _cp.pn_data_get_ulong,
        Data.LONG: _cp.pn_data_get_long,
    }
    p_get_uint = _cp.pn_data_get_uint
    p_get_timestamp = _cp.pn_data_get_timestamp
    p_get_char = _cp.pn_data_get_char  # code point
    p_get_float = _cp.pn_data_get_float
    p_get_double = _cp.pn_data_get_double
    p_get_decimal32 = _cp.pn_data_get_decimal32
    p_get_decimal64 = _cp.pn_data_get_decimal64
    p_get_decimal128 = _cp.pn_data_get_decimal128
    p_get_uuid = _cp.pn_data_get_uuid
    p_get_binary = _cp.pn_data_get_binary  # memoryview into the Data
    p_get_string = _cp.pn_data_get_string
    p_get_symbol = _cp.pn_data_get_symbol
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
    int_getters = {
        Data.UBYTE: Data.get_ubyte,
        Data.BYTE: Data.get_byte,
        Data.USHORT: Data.get_ushort,
        Data.SHORT: Data.get_short,
        Data.UINT: Data.get_uint,
        Data.INT: Data.get_int,
        Data.ULONG: Data.get_ulong,
        Data.LONG: Data.get_long,
    }
    p_get_uint = Data.get_uint
    p_get_timestamp = Data.get_timestamp
    p_get_char = lambda d: ord(d.get_char())  # noqa: E731
    p_get_float = Data.get_float
    p_get_double = Data.get_double
    p_get_decimal32 = Data.get_decimal32
    p_get_decimal64 = Data.get_decimal64
    p_get_decimal128 = Data.get_decimal128
    p_get_uuid = Data.get_uuid
    p_get_binary = Data.get_binary
    p_get_string = Data.get_string
    p_get_symbol = Data.get_symbol
    FAST_PATH = False
