"""A peer's stdout line -> a JSON object or None, whatever the peer printed.

The property: ``parse_line`` never raises, and what it returns can be
written back out as strict JSON in UTF-8 and walked by recursive code (the
trace writer, the renderer) without a RecursionError.
"""

from __future__ import annotations

import json
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.peer_lines import MAX_DEPTH, parse_line

cfg = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _usable(obj: dict) -> None:
    """What the harness does with a line later: strict JSON, UTF-8, recursion-safe."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    assert json.loads(text) == obj


def _check(text: str) -> dict | None:
    obj = parse_line(text)
    if obj is not None:
        assert isinstance(obj, dict)
        _usable(obj)
    return obj


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=8,
)
_tokens = st.sampled_from(
    ['{"kind": "event"', "[", "{", "]", "}", ",", ":", '"', "\\u", "d800", "\\ud800", "NaN"]
    + ["Infinity", "-Infinity", "1e999", "9" * 5000, "null", "true", '"name"', "\\", "\x00"]
)


@cfg
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    _check(text)


@cfg
@given(st.lists(_tokens | st.text(max_size=5), max_size=60))
def test_json_looking_garbage(parts: list[str]) -> None:
    _check("".join(parts))


@settings(cfg, max_examples=100)
@given(st.dictionaries(st.text(max_size=8), _json, max_size=4))
def test_objects_round_trip(obj: dict) -> None:
    assert _check(json.dumps(obj)) == obj
    assert _check(json.dumps(obj, ensure_ascii=False)) == obj


@cfg
@given(st.integers(0, 3000), st.sampled_from(["[", '{"a":', '{"a":[']))
def test_nesting_is_bounded(depth: int, opener: str) -> None:
    closer = {"[": "]", '{"a":': "}", '{"a":[': "]}"}[opener]
    text = '{"k":' + opener * depth + "1" + closer * depth + "}"
    obj = _check(text)
    levels = depth * (2 if opener == '{"a":[' else 1) + 1
    assert (obj is not None) == (levels <= MAX_DEPTH)


def test_deep_nesting_near_the_interpreter_limit() -> None:
    # json.loads alone raises RecursionError here (not a ValueError): the reader thread died
    n = sys.getrecursionlimit() + 10
    assert parse_line('{"a":' * n + "1" + "}" * n) is None
    assert parse_line("[" * 100_000) is None


def test_not_json_constants_are_rejected() -> None:
    for text in ['{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', '{"x": 1e999}']:
        assert parse_line(text) is None, text
    assert parse_line('{"x": 1e300}') == {"x": 1e300}


def test_lone_surrogates_become_replacement_characters() -> None:
    obj = parse_line('{"body": "a\\ud800b", "\\udfff": "\\ud83d\\ude00"}')
    assert obj == {"body": "a\ufffdb", "\ufffd": "\U0001f600"}
    _usable(obj)


def test_non_objects_are_rejected() -> None:
    for text in ["[1, 2]", "1", '"s"', "null", "", "{broken", "{} {}"]:
        assert parse_line(text) is None, text


def test_the_reader_survives_any_output(monkeypatch) -> None:
    """A peer printing garbage: each bad line is kept as such, and reading goes on."""
    import textwrap

    from harness import process

    monkeypatch.setattr(process, "MAX_LINE", 4096)
    code = textwrap.dedent(
        r"""
        import sys
        w = sys.stdout.buffer.write
        w(b'{"a":' * 5000 + b"\n")         # RecursionError in json.loads
        w(b'{"kind": "event", "x": NaN}\n')
        w(b"\xff\xfe not utf-8\n")
        w(b'{"kind": "event", "big": "' + b"x" * 100000 + b'"}\n')  # over the line limit
        w(b'{"kind": "event", "body": "\\ud800"}\r\n')
        w(b'{"kind": "result", "ok": true}')  # no newline at the end
        """
    )
    p = process.ManagedProcess([sys.executable, "-c", code], label="garbage")
    p.start()
    try:
        assert p.wait(timeout=20) == 0
    finally:
        p.kill()
    objs = [o for _, o in p.events()]
    assert objs == [{"kind": "event", "body": "\ufffd"}, {"kind": "result", "ok": True}]
    assert len(p.bad_lines) == 4
    assert p.bad_lines[0].startswith('{"a":{"a":')
    assert p.bad_lines[3].endswith("(a line longer than 4096 bytes)")
    assert all(len(b) <= 500 for b in p.bad_lines)
