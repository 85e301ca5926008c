"""AMQP 1.0 on the wire, sans-IO: bytes in, protocol headers and frames out.

``FrameDecoder`` turns a byte stream (one direction of a connection, in any
chunking) into ``ProtocolHeader`` and ``Frame`` items; ``encode_*`` builds
them. Nothing here does I/O, so the tap and the tests drive it the same way.
"""

from .codec import MAX_MESSAGE_JOIN, DecodeError, Frame, FrameDecoder, ProtocolHeader
from .encode import encode_empty_frame, encode_frame, encode_header
from .performatives import PERFORMATIVES, Performative

__all__ = [
    "DecodeError",
    "Frame",
    "FrameDecoder",
    "MAX_MESSAGE_JOIN",
    "PERFORMATIVES",
    "Performative",
    "ProtocolHeader",
    "encode_empty_frame",
    "encode_frame",
    "encode_header",
]
