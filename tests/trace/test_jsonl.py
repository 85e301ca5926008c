import uuid

import pytest

from harness.trace.jsonl import append, read_trace, write_trace
from harness.trace.model import TraceEvent
from tests.trace.builders import at_least_once_trace, hello_trace


def test_round_trip(tmp_path):
    events = hello_trace() + at_least_once_trace()
    path = tmp_path / "trace.jsonl"
    write_trace(path, events)
    assert read_trace(path) == events


def test_append_flushes_each_line(tmp_path):
    path = tmp_path / "trace.jsonl"
    with open(path, "w") as fp:
        append(fp, TraceEvent(t=0.5, kind="peer", name="message", src="r", fields={"id": 1}))
        # readable before the file is closed: a killed cell keeps its lines
        assert read_trace(path)[0].fields == {"id": 1}


def test_non_json_values_are_encoded(tmp_path):
    u = uuid.UUID(int=5)
    e = TraceEvent(t=0, kind="frame", name="transfer", fields={"tag": b"\x01\x02", "u": u})
    path = tmp_path / "t.jsonl"
    write_trace(path, [e])
    assert read_trace(path)[0].fields == {"tag": "0102", "u": str(u)}


def test_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "trace.jsonl"
    path.write_text('\n{"t": 1, "kind": "conn", "name": "accept"}\n\n')
    assert [e.name for e in read_trace(path)] == ["accept"]


@pytest.mark.parametrize(
    "line, words",
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"kind": "frame", "name": "open"}', "not a trace event"),
        ('{"t": "soon", "kind": "frame", "name": "open"}', "not a trace event"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, line, words):
    path = tmp_path / "trace.jsonl"
    good = '{"t": 1, "kind": "conn", "name": "accept"}\n'
    path.write_text(good * 11 + line + "\n")
    with pytest.raises(ValueError) as info:
        read_trace(path)
    msg = str(info.value)
    assert msg.startswith("trace.jsonl line 12: ")
    assert words in msg
    assert "\n" not in msg


def test_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        read_trace(tmp_path / "nope.jsonl")


def test_binary_garbage_is_a_value_error(tmp_path):
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b'{"t": 1, "kind": "conn", "name": "accept"}\n\xff\xfe\n')
    with pytest.raises(ValueError, match="trace.jsonl line"):
        read_trace(path)
