"""One readable line per trace event.

A failing cell is understood by reading its handshake, so each performative
shows only the fields that tell the story (a table below), under short names
(``credit`` for ``link_credit``); everything else stays in the JSONL file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from harness.trace.fold import fold_events
from harness.trace.model import CONN, FRAME, HARNESS, HEADER, PEER, TraceEvent

__all__ = [
    "FRAME_FIELDS",
    "RCV_SETTLE",
    "SND_SETTLE",
    "format_value",
    "render_event",
    "render_fields",
    "render_trace",
]

# performative -> (field path, short name) in display order. A path is
# ``__``-separated into the fields; values that are None/False/empty are omitted.
FRAME_FIELDS: dict[str, list[tuple[str, str]]] = {
    "open": [
        ("container_id", "container"),
        ("max_frame_size", "max_frame"),
        ("channel_max", "channel_max"),
        ("idle_time_out", "idle"),
        ("offered_capabilities", "offered"),
        ("desired_capabilities", "desired"),
        ("properties__product", "product"),
        ("properties__version", "version"),
    ],
    "begin": [
        ("remote_channel", "remote_channel"),
        ("next_outgoing_id", "next_out"),
        ("incoming_window", "in_window"),
        ("outgoing_window", "out_window"),
    ],
    "attach": [
        ("name", "name"),
        ("handle", "handle"),
        ("role", "role"),
        ("source", "source"),
        ("target", "target"),
        ("snd_settle_mode", "snd_settle"),
        ("rcv_settle_mode", "rcv_settle"),
        ("initial_delivery_count", "initial_count"),
        ("offered_capabilities", "offered"),
        ("desired_capabilities", "desired"),
    ],
    "flow": [
        ("handle", "handle"),
        ("link_credit", "credit"),
        ("delivery_count", "delivery_count"),
        ("drain", "drain"),
        ("echo", "echo"),
        ("available", "available"),
    ],
    "transfer": [
        ("handle", "handle"),
        ("delivery_id", "id"),
        ("settled", "settled"),
        ("more", "more"),
        ("aborted", "aborted"),
        ("frames", "frames"),  # a delivery the tap joined from several frames
        ("message__id", "msg_id"),
        ("message__to", "to"),
        ("message__reply_to", "reply_to"),
        ("message__correlation_id", "corr"),
        ("message__subject", "subject"),
        ("message__body", "body"),
    ],
    "disposition": [
        ("role", "role"),
        ("first", "first"),
        ("last", "last"),
        ("settled", "settled"),
        ("state", "state"),
    ],
    "detach": [("handle", "handle"), ("closed", "closed"), ("error", "error")],
    "end": [("error", "error")],
    "close": [("error", "error")],
    "sasl_mechanisms": [("sasl_server_mechanisms", "mechanisms")],
    "sasl_init": [("mechanism", "mechanism"), ("hostname", "hostname")],
    "sasl_challenge": [],
    "sasl_response": [],
    "sasl_outcome": [("code", "code")],
    "empty": [],
}

_MISSING = object()

# settle modes travel as numbers; their names are what people compare
SND_SETTLE = {0: "unsettled", 1: "settled", 2: "mixed"}
RCV_SETTLE = {0: "first", 1: "second"}


def _terminus(value: dict[str, Any]) -> str:
    """A source/target in one token: its address, marked when dynamic."""
    address = value.get("address")
    text = "" if address is None else str(address)
    if value.get("dynamic"):
        text = f"<dynamic>{text}" if text else "<dynamic>"
    return text or "<no address>"


def _state(value: dict[str, Any]) -> str:
    kind = str(value.get("type", "?"))
    error = value.get("error")
    if isinstance(error, dict) and error.get("condition"):
        return f"{kind}({error['condition']})"
    return kind


def _error(value: dict[str, Any]) -> str:
    cond = value.get("condition")
    desc = value.get("description")
    if desc:
        return f"{cond}: {desc!r}"
    return str(cond)


def format_value(key: str, value: Any) -> str:
    """Render one field value compactly: bodies as Python repr, plain words bare."""
    if key in ("source", "target"):
        if isinstance(value, dict):
            return _terminus(value)
    if key == "state" and isinstance(value, dict):
        return _state(value)
    if key == "error" and isinstance(value, dict):
        return _error(value)
    if key == "body":
        return repr(value)
    if key == "snd_settle" and value in SND_SETTLE:
        return SND_SETTLE[value]
    if key == "rcv_settle" and value in RCV_SETTLE:
        return RCV_SETTLE[value]
    if isinstance(value, str):
        if value and all(c.isprintable() and not c.isspace() for c in value):
            return value
        return repr(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return ",".join(value) if value else "[]"
    return repr(value) if not isinstance(value, bool | int | float) else str(value)


def render_fields(event: TraceEvent) -> str:
    """The interesting fields of a frame as ``k=v`` words (the table above)."""
    if event.name == "empty":
        return "(heartbeat)"
    table = FRAME_FIELDS.get(event.name)
    parts: list[str] = []
    if table is None:  # unknown performative: show everything flat
        for key, value in event.fields.items():
            if value is not None:
                parts.append(f"{key}={format_value(key, value)}")
        return " ".join(parts)
    for path, short in table:
        value = event.get(path, _MISSING)
        if value is _MISSING or value is None or value is False:
            continue
        if isinstance(value, list | dict) and not value:
            continue
        parts.append(f"{short}={format_value(short, value)}")
    return " ".join(parts)


def _flat(fields: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={format_value(k, v)}" for k, v in fields.items() if v is not None and k != "kind"
    )


def _time(t: float) -> str:
    return f"{t:7.3f}"


def _direction(event: TraceEvent) -> str:
    return f"{event.src or '?'}->{event.dst or '?'}"


def render_event(event: TraceEvent, width: int = 16) -> str:
    """One line for one event; ``width`` pads the ``src->dst`` column."""
    head = _time(event.t)
    conn = event.conn or ""
    if event.kind == FRAME:
        rest = render_fields(event)
        line = f"{head} {conn} {_direction(event):<{width}} {event.name:<11} {rest}"
        if event.channel not in (None, 0):
            line += f" [ch {event.channel}]"
        return line.rstrip()
    if event.kind == HEADER:
        return f"{head} {conn} {_direction(event):<{width}} {'header':<11} {event.name}".rstrip()
    if event.kind == PEER:
        return f"{head} peer {event.src or '?'}  {event.name} {_flat(event.fields)}".rstrip()
    if event.kind == CONN:
        return f"{head} {conn} ** {_conn_text(event)}".rstrip()
    if event.kind == HARNESS and event.name == "folded":
        return f"{head} ... {_folded_text(event.fields)}"
    if event.kind == HARNESS:
        where = f" {conn}" if conn else ""
        return f"{head} harness{where} {event.name} {_flat(event.fields)}".rstrip()
    return f"{head} {conn} {event.kind} {event.name} {_flat(event.fields)}".rstrip()


def _folded_text(fields: dict[str, Any]) -> str:
    """``1,492 events folded until 12.345: transfer sender→broker ×498, ...`` (a stored fold)."""
    counts = fields.get("counts")
    shown = ", ".join(f"{k} ×{n:,}" for k, n in counts.items()) if isinstance(counts, dict) else ""
    n, until = fields.get("events"), fields.get("until")
    head = f"{n:,} events folded" if isinstance(n, int) else "events folded"
    if isinstance(until, int | float):
        head += f" until {_time(until).strip()}"
    return f"{head}: {shown}" if shown else head


def _conn_text(event: TraceEvent) -> str:
    fields = dict(event.fields)
    name = event.name
    if name == "cut":
        rule = str(fields.pop("rule", "") or "")
        text = rule if rule.startswith("cut") else f"cut ({rule})" if rule else "cut"
    elif name == "close":
        by = fields.pop("by", None)
        text = f"connection closed by {by}" if by else "connection closed"
    elif name == "accept":
        text = f"accept {_direction(event)}"
    elif name == "connect":
        text = f"connected upstream {_direction(event)}"
    elif name == "refused":
        text = f"upstream refused {_direction(event)}"
    else:
        text = name
    extra = _flat(fields)
    return f"{text} {extra}" if extra else text


def render_trace(
    events: Iterable[TraceEvent],
    conn: str | None = None,
    keep: Callable[[TraceEvent], bool] | None = None,
) -> str:
    """The whole trace, one line per event, optionally only one connection's events.

    ``keep`` filters further (for example to drop heartbeat ``empty`` frames).
    A trace longer than ``FOLD_OVER`` events is rendered folded (``fold_events``).
    """
    chosen = [e for e in events if (conn is None or e.conn == conn) and (keep is None or keep(e))]
    chosen = fold_events(chosen)
    width = max([16] + [len(_direction(e)) for e in chosen if e.kind in (FRAME, HEADER)])
    return "\n".join(render_event(e, width) for e in chosen)
