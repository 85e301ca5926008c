"""JSON Lines storage for traces: one ``TraceEvent`` per line.

JSONL rather than one JSON document so that a trace can be appended to while
a cell runs (a crashed or killed cell still leaves every line written so far)
and read with ``grep``/``jq`` by someone chasing a failure.

A whole trace longer than ``harness.trace.fold.FOLD_OVER`` events is written
folded (``fold_events``): its routine per-message stretches become one
``folded`` line each, and every frame around each fault stays, so a
100,000-message run takes megabytes on disk rather than hundreds.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from typing import IO, Any

from harness.trace.fold import fold_events
from harness.trace.model import TraceEvent

__all__ = ["append", "dumps_event", "read_trace", "write_trace"]


def _default(value: Any) -> Any:
    """Encode the few non-JSON values a codec may leave in fields.

    Binary becomes a hex string and uuids their string form, as the peer
    contract encodes AMQP values, so tap frames and peer lines compare alike.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


#: one encoder for every line: ``json.dumps`` with options builds a new one per call,
#: which was a tenth of the time of writing a 1,000-message trace
_ENCODER = json.JSONEncoder(default=_default, ensure_ascii=False)


def dumps_event(event: TraceEvent) -> str:
    """One event as one JSON line (no trailing newline)."""
    return _ENCODER.encode(event.to_dict())


def append(fp: IO[str], event: TraceEvent) -> None:
    """Append one event to an open text file and flush.

    Flushing each line keeps the file useful when the run dies half-way.
    """
    fp.write(dumps_event(event) + "\n")
    fp.flush()


def write_trace(
    path: str | os.PathLike[str], events: Iterable[TraceEvent], *, fold: bool = True
) -> int:
    """Write a whole trace, replacing the file; returns the number of lines written.

    ``fold`` (the default) stores a long trace folded (see ``fold_events``);
    a short one is written event for event either way.
    """
    chosen = fold_events(list(events)) if fold else events
    lines = [dumps_event(event) + "\n" for event in chosen]
    with open(path, "w", encoding="utf-8") as fp:
        fp.writelines(lines)
    return len(lines)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def read_trace(path: str | os.PathLike[str]) -> list[TraceEvent]:
    """Read a trace written by :func:`write_trace` or :func:`append`.

    Blank lines are skipped. A line that is not a trace event raises
    ``ValueError("trace.jsonl line 12: ...")`` on one line, so a command line
    tool can print it as is.
    """
    name = os.path.basename(os.fspath(path))
    events: list[TraceEvent] = []
    try:
        fp = open(path, encoding="utf-8")
    except OSError as e:
        raise ValueError(f"{name}: cannot read: {_one_line(e.strerror or str(e))}") from e
    with fp:
        lineno = 0
        try:
            for lineno, line in enumerate(fp, start=1):  # noqa: B007 - used in the error
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{name} line {lineno}: not JSON: {e.msg}") from e
                except (ValueError, RecursionError) as e:  # digits over the limit, deep nesting
                    raise ValueError(f"{name} line {lineno}: not a trace event ({e})") from None
                if not isinstance(obj, dict):
                    raise ValueError(f"{name} line {lineno}: not a JSON object")
                try:
                    events.append(TraceEvent.from_dict(obj))
                except ValueError as e:
                    raise ValueError(f"{name} line {lineno}: {_one_line(str(e))}") from e
        except UnicodeDecodeError as e:
            raise ValueError(f"{name} line {lineno + 1}: not UTF-8 text") from e
    return events
