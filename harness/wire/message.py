"""A transfer's message bytes -> the few fields a trace shows (id, addresses, body).

Why a summary and not the whole message: a trace line should say which
message went by (its id, ``to``, ``reply_to``, ``correlation_id``, subject
and body) so patterns and invariants can follow it across reconnects; the
header, annotations and footer add nothing to that story. A payload that is
not a well-formed sequence of sections gives ``None``: the summary is a
convenience, a bad payload is not a framing error.
"""

from __future__ import annotations

import functools
from typing import Any

from proton import Data

from .proton_adapter import (
    handle,
    p_clear,
    p_decode,
    p_enter,
    p_exit,
    p_get_binary,
    p_get_list,
    p_rewind,
)
from .values import BINARY, DESCRIBED, LIST, next_type, read_descriptor, read_value

__all__ = ["MAX_BODY_STRING", "MAX_SECTIONS", "summarize_message", "truncate_strings"]

#: body strings longer than this are cut in message summaries
MAX_BODY_STRING = 200
#: a payload of more sections than this is not summarized: 4-byte sections filling a
#: 16 MiB frame took 30 s of the tap's time (found by fuzzing); real messages have a handful
MAX_SECTIONS = 1024

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

# Spare Data objects for summaries: allocating one costs as much as decoding a
# section, so they are reused. A summary may be asked for on any thread (the
# tap's loop, or the caller of Tap.stop()), so each call takes a Data of its
# own from this list and puts it back; list.pop()/append() are atomic, so no
# lock and no thread-local is needed, and the list holds at most as many Data
# objects as summaries ever ran at once.
_spare: list[Data] = []


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


#: payloads up to this size are remembered with their summary (see ``summarize_message``)
CACHED_PAYLOAD = 4096


def summarize_message(payload: bytes | memoryview) -> dict[str, Any] | None:
    """Decode a complete bare/annotated message into the fields traces care about.

    Returns ``None`` when the payload is not a well-formed sequence of message
    sections: the summary is a convenience, a bad payload is not a framing error.

    Why a cache: a broker that forwards the bare message as it got it (the
    embedded one does) puts the same bytes on the sender's and the
    receiver's connection, and a redelivery repeats them once more; decoding
    was a sixth of the harness's CPU in a matrix run. Each caller gets a copy
    of the top-level dict, so no trace event shares one with another.
    """
    if len(payload) > CACHED_PAYLOAD:
        return _decode(payload)
    summary = _remembered(bytes(payload))
    return dict(summary) if summary is not None else None


@functools.lru_cache(maxsize=2048)
def _remembered(payload: bytes) -> dict[str, Any] | None:
    return _decode(payload)


def _decode(payload: bytes | memoryview) -> dict[str, Any] | None:
    try:
        d = _spare.pop()
    except IndexError:
        d = Data()
    try:
        return _summarize(handle(d), memoryview(payload))
    finally:
        _spare.append(d)


class _Sections:
    """What the sections of one message said so far."""

    def __init__(self) -> None:
        self.out: dict[str, Any] = {
            "id": None,
            "to": None,
            "reply_to": None,
            "correlation_id": None,
            "subject": None,
            "body": None,
        }
        self.data_parts: list[bytes] = []
        self.sequences: list[Any] = []
        self.value: Any = None
        self.has_value = False

    def body(self) -> Any:
        if self.has_value:
            return self.value
        if self.data_parts:
            return b"".join(self.data_parts).hex()
        if self.sequences:
            return self.sequences
        return None


def _summarize(h: Any, view: memoryview) -> dict[str, Any] | None:
    pos = 0
    sections = _Sections()
    count = 0
    try:
        while pos < len(view):
            count += 1
            if count > MAX_SECTIONS:
                return None
            p_clear(h)
            used = p_decode(h, view[pos:])
            if used <= 0:
                return None
            pos += used
            p_rewind(h)
            if next_type(h) != DESCRIBED:
                return None
            p_enter(h)
            if not _read_section(h, sections):
                return None
            p_exit(h)
    except Exception:  # any proton or conversion error means "not a message"
        return None
    out = sections.out
    out["body"] = truncate_strings(sections.body())
    return out


def _read_section(h: Any, sections: _Sections) -> bool:
    """Read the section just entered into ``sections``; False if it is not one."""
    descriptor = read_descriptor(h)
    if isinstance(descriptor, str):
        descriptor = _SECTION_SYMBOLS.get(descriptor, -1)
    t = next_type(h)
    if descriptor == _SECTION_PROPERTIES:
        props = _read_properties(h) if t == LIST else [None] * 6
        out = sections.out
        out["id"] = props[0]
        out["to"] = props[2]
        out["subject"] = props[3]
        out["reply_to"] = props[4]
        out["correlation_id"] = props[5]
    elif descriptor == _SECTION_DATA:
        if t != BINARY:
            return False
        sections.data_parts.append(bytes(p_get_binary(h)))
    elif descriptor == _SECTION_SEQUENCE:
        sections.sequences.extend(read_value(h, t, 1) or [])
    elif descriptor == _SECTION_VALUE:
        sections.value = read_value(h, t, 1)
        sections.has_value = True
    elif not (0x70 <= descriptor <= 0x78):  # type: ignore[operator]
        return False
    return True


def _read_properties(h: Any) -> list[Any]:
    """The first six fields of the properties section: message-id .. correlation-id."""
    n = min(p_get_list(h), 6)
    out = [None] * 6
    p_enter(h)
    try:
        for i in range(n):
            out[i] = read_value(h, next_type(h), 1)
    finally:
        p_exit(h)
    return out
