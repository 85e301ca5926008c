"""Decoded items as trace events: what the tap records for each header and frame.

The tap decodes either on the forwarding path (when a fault rule must see
frames before they pass) or after the cell from the bytes it kept; both
turn each protocol header and frame into one ``TraceEvent`` here, so a
trace reads the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.trace.model import FRAME, HARNESS, HEADER
from harness.wire.codec import DecodeError, Frame, FrameDecoder, ProtocolHeader

__all__ = ["Emit", "decode_error", "decode_recording", "record_item"]

#: the tap's ``_emit(kind, name, t=None, **event fields)``
Emit = Callable[..., None]


def decode_recording(
    emit: Emit, name: str, src: str, dst: str, chunks: list[tuple[float, bytes]]
) -> None:
    """Decode one direction of a connection from its kept chunks, each item at its bytes' time."""
    decoder = FrameDecoder()
    for t, data in chunks:
        try:
            items = decoder.feed(data)
        except DecodeError as e:
            for item in e.items:
                record_item(emit, name, item, src, dst, t)
            decode_error(emit, name, src, dst, e, t)
            return
        for item in items:
            record_item(emit, name, item, src, dst, t)


def decode_error(
    emit: Emit, conn: str, src: str, dst: str, e: DecodeError, t: float | None = None
) -> None:
    """Bytes that are not AMQP: one harness event; the tap stays transparent."""
    emit(
        HARNESS,
        "decode-error",
        conn=conn,
        src=src,
        dst=dst,
        t=t,
        fields={"offset": e.offset, "reason": e.reason},
    )


def record_item(
    emit: Emit, conn: str, item: Frame | ProtocolHeader, src: str, dst: str, t: float | None
) -> dict[str, Any] | None:
    """Emit the trace event for one item; returns a frame's fields (None for a header)."""
    if isinstance(item, ProtocolHeader):
        emit(
            HEADER,
            item.name,
            conn=conn,
            src=src,
            dst=dst,
            t=t,
            fields={"version": f"{item.major}.{item.minor}.{item.revision}"},
        )
        return None
    name = item.name
    fields = dict(item.performative.fields) if item.performative is not None else {}
    if (
        name == "sasl_init"
        and fields.get("mechanism") == "PLAIN"
        and fields.get("initial_response")
    ):
        fields["initial_response"] = "<redacted>"  # PLAIN carries the password
    if name == "transfer":
        msg = item.message
        if msg is not None:
            fields["message"] = msg
        fields["payload_size"] = item.payload_size
    emit(FRAME, name, conn=conn, src=src, dst=dst, channel=item.channel, t=t, fields=fields)
    return fields
