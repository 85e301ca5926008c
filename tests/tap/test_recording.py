"""What the tap records for each decoded item, whether it decoded live or after the cell.

Why: both paths of the tap (decoding on the forwarding path for fault rules,
or later from the kept bytes) must give the same trace events, with the
PLAIN password never written down and bad bytes as one decode-error event.
"""

from __future__ import annotations

from typing import Any

from harness.tap import recording
from harness.trace.model import FRAME, HARNESS, HEADER
from harness.wire.encode import encode_frame, encode_header


def _collect() -> tuple[list[tuple[str, str, dict[str, Any]]], recording.Emit]:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def emit(kind: str, name: str, t: float | None = None, **kw: Any) -> None:
        seen.append((kind, name, {"t": t, **kw}))

    return seen, emit


def test_a_recording_decodes_each_item_at_the_time_its_bytes_came() -> None:
    seen, emit = _collect()
    chunks = [
        (0.5, encode_header()),
        (0.75, encode_frame("open", {"container_id": "c"})),
    ]
    recording.decode_recording(emit, "c1", "sender", "broker", chunks)
    assert [(k, n) for k, n, _ in seen] == [(HEADER, "amqp"), (FRAME, "open")]
    assert [f["t"] for _, _, f in seen] == [0.5, 0.75]
    assert seen[1][2]["fields"]["container_id"] == "c"
    assert all(f["conn"] == "c1" and f["src"] == "sender" for _, _, f in seen)


def test_bad_bytes_end_a_recording_with_one_decode_error() -> None:
    seen, emit = _collect()
    chunks = [(0.1, encode_header()), (0.2, b"\x00\x00\x00\x02garbage")]
    recording.decode_recording(emit, "c1", "sender", "broker", chunks)
    assert [(k, n) for k, n, _ in seen] == [(HEADER, "amqp"), (HARNESS, "decode-error")]
    assert seen[1][2]["t"] == 0.2 and seen[1][2]["fields"]["reason"]


def test_a_plain_password_is_never_recorded() -> None:
    seen, emit = _collect()
    frame = encode_frame(
        "sasl_init", {"mechanism": "PLAIN", "initial_response": b"\x00user\x00secret"}, frame_type=1
    )
    recording.decode_recording(emit, "c1", "sender", "broker", [(0.0, encode_header(3) + frame)])
    fields = next(f["fields"] for k, n, f in seen if n == "sasl_init")
    assert fields["initial_response"] == "<redacted>"
    assert "secret" not in repr(seen)
