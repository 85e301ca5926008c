"""The fourteen AMQP 1.0 performatives as data, and decoding one off a frame body.

One table row per performative (descriptor code, symbolic descriptor, name,
fields with their spec kinds), h11-style: the decoder and the encoder both
read the rules from here instead of hard-coding them per performative.
"""

from __future__ import annotations

from typing import Any

from proton import Data

from .proton_adapter import (
    handle,
    p_clear,
    p_decode,
    p_enter,
    p_get_list,
    p_get_ulong,
    p_next,
    p_rewind,
    p_type,
)
from .values import DESCRIBED, KIND_READERS, LIST, NULL, SYMBOL, ULONG, BadValue, get_sym

__all__ = [
    "AMQP_FRAME",
    "SASL_FRAME",
    "Performative",
    "PerformativeSpec",
    "PERFORMATIVES",
    "BY_CODE",
    "BY_NAME",
    "decode_performative",
]

AMQP_FRAME = 0
SASL_FRAME = 1
#: longest part of a peer's symbol quoted in a reason
_SHOWN = 40

_CAPS = (("offered_capabilities", "symbols"), ("desired_capabilities", "symbols"))
_PROPS = (("properties", "fields"),)

# (code, name, frame type, ((field, kind), ...), mandatory fields)
_TABLE: tuple[tuple[int, str, int, tuple[tuple[str, str], ...], tuple[str, ...]], ...] = (
    (
        0x10,
        "open",
        AMQP_FRAME,
        (
            ("container_id", "string"),
            ("hostname", "string"),
            ("max_frame_size", "uint"),
            ("channel_max", "ushort"),
            ("idle_time_out", "uint"),
            ("outgoing_locales", "symbols"),
            ("incoming_locales", "symbols"),
        )
        + _CAPS
        + _PROPS,
        ("container_id",),
    ),
    (
        0x11,
        "begin",
        AMQP_FRAME,
        (
            ("remote_channel", "ushort"),
            ("next_outgoing_id", "uint"),
            ("incoming_window", "uint"),
            ("outgoing_window", "uint"),
            ("handle_max", "uint"),
        )
        + _CAPS
        + _PROPS,
        ("next_outgoing_id", "incoming_window", "outgoing_window"),
    ),
    (
        0x12,
        "attach",
        AMQP_FRAME,
        (
            ("name", "string"),
            ("handle", "uint"),
            ("role", "role"),
            ("snd_settle_mode", "ubyte"),
            ("rcv_settle_mode", "ubyte"),
            ("source", "source"),
            ("target", "target"),
            ("unsettled", "map"),
            ("incomplete_unsettled", "bool"),
            ("initial_delivery_count", "uint"),
            ("max_message_size", "ulong"),
        )
        + _CAPS
        + _PROPS,
        ("name", "handle", "role"),
    ),
    (
        0x13,
        "flow",
        AMQP_FRAME,
        (
            ("next_incoming_id", "uint"),
            ("incoming_window", "uint"),
            ("next_outgoing_id", "uint"),
            ("outgoing_window", "uint"),
            ("handle", "uint"),
            ("delivery_count", "uint"),
            ("link_credit", "uint"),
            ("available", "uint"),
            ("drain", "bool"),
            ("echo", "bool"),
        )
        + _PROPS,
        ("incoming_window", "next_outgoing_id", "outgoing_window"),
    ),
    (
        0x14,
        "transfer",
        AMQP_FRAME,
        (
            ("handle", "uint"),
            ("delivery_id", "uint"),
            ("delivery_tag", "binary"),
            ("message_format", "uint"),
            ("settled", "bool"),
            ("more", "bool"),
            ("rcv_settle_mode", "ubyte"),
            ("state", "state"),
            ("resume", "bool"),
            ("aborted", "bool"),
            ("batchable", "bool"),
        ),
        ("handle",),
    ),
    (
        0x15,
        "disposition",
        AMQP_FRAME,
        (
            ("role", "role"),
            ("first", "uint"),
            ("last", "uint"),
            ("settled", "bool"),
            ("state", "state"),
            ("batchable", "bool"),
        ),
        ("role", "first"),
    ),
    (
        0x16,
        "detach",
        AMQP_FRAME,
        (("handle", "uint"), ("closed", "bool"), ("error", "error")),
        ("handle",),
    ),
    (0x17, "end", AMQP_FRAME, (("error", "error"),), ()),
    (0x18, "close", AMQP_FRAME, (("error", "error"),), ()),
    (
        0x40,
        "sasl_mechanisms",
        SASL_FRAME,
        (("sasl_server_mechanisms", "symbols"),),
        ("sasl_server_mechanisms",),
    ),
    (
        0x41,
        "sasl_init",
        SASL_FRAME,
        (("mechanism", "symbol"), ("initial_response", "binary"), ("hostname", "string")),
        ("mechanism",),
    ),
    (0x42, "sasl_challenge", SASL_FRAME, (("challenge", "binary"),), ("challenge",)),
    (0x43, "sasl_response", SASL_FRAME, (("response", "binary"),), ("response",)),
    (
        0x44,
        "sasl_outcome",
        SASL_FRAME,
        (("code", "ubyte"), ("additional_data", "binary")),
        ("code",),
    ),
)


class PerformativeSpec:
    """One row of the table, with the field readers resolved once."""

    __slots__ = ("code", "name", "symbol", "frame_type", "fields", "kinds", "readers", "mandatory")

    def __init__(
        self,
        code: int,
        name: str,
        frame_type: int,
        fields: tuple[tuple[str, str], ...],
        mandatory: tuple[str, ...],
    ) -> None:
        self.code = code
        self.name = name
        # the spec's symbolic descriptor: "amqp:open:list", "amqp:sasl-init:list"
        self.symbol = f"amqp:{name.replace('_', '-')}:list"
        self.frame_type = frame_type
        self.fields = tuple(f for f, _ in fields)
        self.kinds = tuple(k for _, k in fields)
        self.readers = tuple(KIND_READERS[k] for k in self.kinds)
        self.mandatory = mandatory


PERFORMATIVES: tuple[PerformativeSpec, ...] = tuple(PerformativeSpec(*row) for row in _TABLE)
#: by numeric and symbolic descriptor
BY_CODE: dict[int | str, PerformativeSpec] = {}
BY_NAME: dict[str, PerformativeSpec] = {}
for _spec in PERFORMATIVES:
    BY_CODE[_spec.code] = BY_CODE[_spec.symbol] = BY_NAME[_spec.name] = _spec


class Performative:
    """A decoded performative: its name, descriptor code and every spec field.

    ``fields`` holds all fields of the spec by snake_case name (absent or null
    ones as ``None``) with JSON-ready values; attribute access reads them too
    (``attach.role``, ``flow.link_credit``).
    """

    __slots__ = ("name", "descriptor", "fields")

    def __init__(self, name: str, descriptor: int, fields: dict[str, Any]) -> None:
        self.name = name
        self.descriptor = descriptor
        self.fields = fields

    def __getattr__(self, item: str) -> Any:
        # only called for names that are not slots; guard the ones copy/pickle probe
        if item == "fields" or item.startswith("__"):
            raise AttributeError(item)
        try:
            return self.fields[item]
        except KeyError:
            raise AttributeError(f"{self.name} has no field {item!r}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Performative):
            return NotImplemented
        return (
            self.descriptor == other.descriptor
            and self.name == other.name
            and self.fields == other.fields
        )

    __hash__ = None  # type: ignore[assignment]  # mutable fields dict

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.fields.items() if v is not None)
        return f"<{self.name} {shown}>"

    def to_dict(self) -> dict[str, Any]:
        """The fields as a new dict (for trace records)."""
        return dict(self.fields)


def decode_performative(
    d: Data, body: memoryview | bytes, frame_type: int
) -> tuple[Performative, int]:
    """Decode the performative at the start of a frame body.

    Returns the performative and the number of bytes it took (what follows is
    the transfer payload). Raises BadValue for anything that is not a described
    list with a known descriptor of this frame type, or whose fields do not
    have their spec types.
    """
    h = handle(d)
    p_clear(h)
    consumed = p_decode(h, body)
    if consumed < 0:
        raise BadValue(f"undecodable performative (proton error {consumed})")
    p_rewind(h)
    if not p_next(h) or p_type(h) != DESCRIBED:
        raise BadValue("frame body is not a described type")
    p_enter(h)
    p_next(h)
    t = p_type(h)
    if t == ULONG:
        code: int | str = p_get_ulong(h)
    elif t == SYMBOL:
        code = get_sym(h)
    else:
        raise BadValue("performative descriptor is neither ulong nor symbol")
    spec = BY_CODE.get(code)
    if spec is None:
        # the descriptor is the peer's bytes: quoted at a bounded length (a reason is one line)
        shown = (
            f"0x{code:02x}"
            if isinstance(code, int)
            else repr(code[:_SHOWN]) + (f"... ({len(code)} chars)" if len(code) > _SHOWN else "")
        )
        raise BadValue(f"unknown performative descriptor {shown}")
    if spec.frame_type != frame_type:
        kind = "SASL" if frame_type == SASL_FRAME else "AMQP"
        raise BadValue(f"{spec.name} in an {kind} frame")
    if not p_next(h) or p_type(h) != LIST:
        raise BadValue(f"{spec.name} body is not a list")
    names = spec.fields
    n = p_get_list(h)
    if n > len(names):
        raise BadValue(f"{spec.name} has {n} fields, the spec defines {len(names)}")
    readers = spec.readers
    fields = dict.fromkeys(names)
    p_enter(h)
    nxt = p_next
    typ = p_type
    try:
        for i in range(n):
            if not nxt(h):
                raise BadValue("list shorter than its count")
            t = typ(h)
            if t != NULL:
                fields[names[i]] = readers[i](h, t, 1)
    except BadValue as e:
        where = f"{spec.name}.{names[i]}" if i < len(names) else spec.name
        raise BadValue(f"{where}: {e}") from None
    for m in spec.mandatory:
        if fields[m] is None:
            raise BadValue(f"{spec.name}: mandatory field {m} is missing")
    return Performative(spec.name, spec.code, fields), consumed
