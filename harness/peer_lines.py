"""One line of a peer's stdout -> a JSON object, or ``None`` (a contract violation).

Why a function of its own: a peer is foreign code (any language, any
``--peer NAME=COMMAND``), so its stdout is untrusted input. Whatever it
prints must come out as either a plain JSON object the rest of the harness
can store, render and write back out, or a rejected line that the checks
report as a ``contract-output`` failure; never an exception in the reader
thread (which would stop reading the pipe and leave the peer blocked on it).

``json.loads`` alone is not enough for that: deep nesting raises
``RecursionError`` (not a ``ValueError``), ``NaN``/``Infinity`` (and ``1e999``) are accepted
but are not JSON (written back, they make the trace file unreadable to
strict parsers), and ``"\\ud800"`` yields a lone surrogate that cannot be
written to a UTF-8 file later. Each is handled here, cheaply: the checks
that walk the object run only when the text could need them.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_LINE", "parse_line"]

#: longest stdout line kept, in bytes; a longer one is a contract violation (memory bound)
MAX_LINE = 16 * 1024 * 1024
#: deepest nesting of arrays/objects in a peer line; deeper lines are rejected
MAX_DEPTH = 64

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    f = float(text)
    if f - f != 0.0:  # inf (1e999) would be written back as Infinity, which is not JSON
        raise ValueError(f"{text} is out of range")
    return f


#: built once: ``json.loads`` with hooks builds a decoder per call, which cost as much as
#: the decoding itself on a peer's short event lines
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def _too_deep(obj: Any, limit: int) -> bool:
    """Whether ``obj`` nests containers deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            v = v.values()
        elif not isinstance(v, list):
            continue
        if depth > limit:
            return True
        stack.extend((x, depth + 1) for x in v if isinstance(x, dict | list))
    return False


def _scrub(v: Any) -> Any:
    """Replace lone surrogates (from ``\\udXXX`` escapes) with U+FFFD, keys included."""
    if isinstance(v, str):
        return _LONE_SURROGATE.sub("\ufffd", v)
    if isinstance(v, list):
        return [_scrub(x) for x in v]
    if isinstance(v, dict):
        return {_scrub(k): _scrub(x) for k, x in v.items()}
    return v


def parse_line(text: str) -> dict[str, Any] | None:
    """The JSON object on this line, or ``None`` when the line is not one.

    ``text`` is the line already decoded (invalid UTF-8 replaced) and
    stripped of its line ending. Never raises.
    """
    try:
        obj = _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(obj, MAX_DEPTH):
        return None  # json's own guard depends on the caller's stack; later walkers recurse
    if _SURROGATE_ESCAPE.search(text):
        obj = _scrub(obj)
    return obj
