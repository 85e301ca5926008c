"""Property tests of the trace reader: a trace file is input (``interop trace FILE``).

Whatever the file holds, ``read_trace`` returns events or raises one
``ValueError`` naming the line, never an OverflowError, a RecursionError or
a TypeError from whatever later sorts or draws the events; and what it
returns is written back and read again unchanged.
"""

from __future__ import annotations

import json
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.trace.jsonl import read_trace, write_trace
from harness.trace.svg import render_svg

cfg = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
_label = st.none() | st.sampled_from(["c1", "sender", "broker"]) | _json
_event = st.fixed_dictionaries(
    {"t": st.integers(0, 10) | st.floats(0, 100) | _json, "kind": _json, "name": _json},
    optional={
        "conn": _label,
        "src": _label,
        "dst": _label,
        "channel": st.none() | st.integers(0, 65535) | _json,
        "fields": st.none() | st.dictionaries(st.text(max_size=8), _json, max_size=4) | _json,
    },
)
_line = st.one_of(
    _event.map(json.dumps),
    _json.map(json.dumps),
    st.text(max_size=60),
    st.integers(1, 3000).map(lambda n: "[" * n),
)


def _read(lines: list[str]) -> list | None:
    fd, path = tempfile.mkstemp(suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as fp:
            fp.write("\n".join(lines) + "\n")
        try:
            return read_trace(path)
        except ValueError as e:
            assert "\n" not in str(e)
            assert str(e).startswith(os.path.basename(path) + " line ") or "cannot read" in str(e)
            return None
    finally:
        os.unlink(path)


@cfg
@given(st.lists(_line, min_size=1, max_size=6))
def test_any_file_reads_or_fails_on_one_line(lines) -> None:
    events = _read(lines)
    if events is None:
        return
    fd, path = tempfile.mkstemp(suffix=".jsonl")
    os.close(fd)
    try:
        write_trace(path, events, fold=False)
        assert [e.to_dict() for e in read_trace(path)] == [e.to_dict() for e in events]
    finally:
        os.unlink(path)
    render_svg(events)  # what `interop trace FILE --svg` draws


@cfg
@given(st.lists(_event.map(json.dumps), min_size=1, max_size=6))
def test_events_with_any_field_types(lines) -> None:
    events = _read(lines)
    for e in events or []:
        assert isinstance(e.t, float) and e.t - e.t == 0.0
        assert all(isinstance(x, str | None) for x in (e.conn, e.src, e.dst))
        assert e.channel is None or type(e.channel) is int
        assert isinstance(e.fields, dict)


def test_the_lines_that_used_to_escape_as_other_errors() -> None:
    deep = "[" * 100_000
    big_t = '{"t": 1' + "0" * 400 + ', "kind": "frame", "name": "open"}'
    list_conn = '{"t": 1, "kind": "frame", "name": "open", "conn": ["c1"]}'
    for line, says in [
        (deep, "recursion"),
        (big_t, "too large"),
        (list_conn, "conn is not a string"),
        ('{"t": 1, "kind": "k", "name": "n", "channel": "0"}', "channel is not an integer"),
        ('{"t": 1, "kind": "k", "name": "n", "fields": [["a", 1]]}', "fields is not an object"),
        ('{"t": 1e999, "kind": "k", "name": "n"}', "t is inf"),
    ]:
        fd, path = tempfile.mkstemp(suffix=".jsonl")
        with os.fdopen(fd, "w") as fp:
            fp.write(line + "\n")
        try:
            read_trace(path)
        except ValueError as e:
            assert " line 1: " in str(e) and says in str(e), str(e)
        else:
            raise AssertionError(f"read: {line[:60]}")
        finally:
            os.unlink(path)
