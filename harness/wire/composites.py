"""The described list types of the spec that are not performatives, as data.

Source, target, the delivery states and error are ``described(code, list)``
values inside performative fields. One table row per type (descriptor code,
symbolic descriptor, our name, fields with their spec kinds), h11-style: the
decoder (:mod:`.values`) and the encoder (:mod:`.encode`) both read the field
order and kinds from here. Plain data, no proton: the rows can be checked
against the spec's XML without decoding anything.
"""

from __future__ import annotations

__all__ = ["COMPOSITES", "COMPOSITES_BY_NAME", "Composite"]


class Composite:
    """A described list type from the spec: descriptor, name, (field, kind) pairs.

    ``tagged`` composites (delivery states) carry their name as ``"type"`` in the
    converted dict, so ``{"type": "accepted"}`` reads without a descriptor table.
    """

    __slots__ = ("code", "symbol", "name", "fields", "kinds", "tagged")

    def __init__(
        self, code: int, symbol: str, name: str, fields: tuple[tuple[str, str], ...], tagged: bool
    ) -> None:
        self.code = code
        self.symbol = symbol
        self.name = name
        self.fields = tuple(f for f, _ in fields)
        self.kinds = tuple(k for _, k in fields)
        self.tagged = tagged


_ADDR = ("address", "any")
_SOURCE_TARGET_COMMON = (
    _ADDR,
    ("durable", "uint"),
    ("expiry_policy", "symbol"),
    ("timeout", "uint"),
    ("dynamic", "bool"),
    ("dynamic_node_properties", "fields"),
)

# (code, symbolic descriptor, name, fields, tagged)
_COMPOSITE_TABLE: tuple[tuple[int, str, str, tuple[tuple[str, str], ...], bool], ...] = (
    (
        0x1D,
        "amqp:error:list",
        "error",
        (("condition", "symbol"), ("description", "string"), ("info", "fields")),
        False,
    ),
    (
        0x23,
        "amqp:received:list",
        "received",
        (("section_number", "uint"), ("section_offset", "ulong")),
        True,
    ),
    (0x24, "amqp:accepted:list", "accepted", (), True),
    (0x25, "amqp:rejected:list", "rejected", (("error", "error"),), True),
    (0x26, "amqp:released:list", "released", (), True),
    (
        0x27,
        "amqp:modified:list",
        "modified",
        (
            ("delivery_failed", "bool"),
            ("undeliverable_here", "bool"),
            ("message_annotations", "fields"),
        ),
        True,
    ),
    (
        0x28,
        "amqp:source:list",
        "source",
        _SOURCE_TARGET_COMMON
        + (
            ("distribution_mode", "symbol"),
            ("filter", "fields"),
            ("default_outcome", "state"),
            ("outcomes", "symbols"),
            ("capabilities", "symbols"),
        ),
        False,
    ),
    (
        0x29,
        "amqp:target:list",
        "target",
        _SOURCE_TARGET_COMMON + (("capabilities", "symbols"),),
        False,
    ),
    (0x33, "amqp:declared:list", "declared", (("txn_id", "binary"),), True),
    (
        0x34,
        "amqp:transactional-state:list",
        "transactional_state",
        (("txn_id", "binary"), ("outcome", "state")),
        True,
    ),
)

#: composites by numeric and by symbolic descriptor
COMPOSITES: dict[int | str, Composite] = {}
#: composites by our name ("accepted", "source" ...), for the encoder
COMPOSITES_BY_NAME: dict[str, Composite] = {}
for _code, _sym, _name, _fields, _tagged in _COMPOSITE_TABLE:
    _c = Composite(_code, _sym, _name, _fields, _tagged)
    COMPOSITES[_code] = COMPOSITES[_sym] = COMPOSITES_BY_NAME[_name] = _c
