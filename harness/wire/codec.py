"""Sans-IO AMQP 1.0 stream decoder: bytes in (any chunking), headers and frames out.

The decoder never touches a socket: the tap feeds it whatever ``recv`` gave and
gets back the protocol headers and frames completed so far. One decoder per
direction of a connection. It checks the framing rules of the spec (part 2.3)
and decodes each performative with ``proton.Data``; field naming and value
conversion live in :mod:`.performatives` and :mod:`.values`.

Memory is bounded: the decoder holds at most one partial item (less than
``max_frame_size + 8`` bytes), plus the payloads of unfinished multi-frame
messages (at most 1 MiB each) for the message summary.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from proton import Data

from .message import summarize_message
from .performatives import AMQP_FRAME, SASL_FRAME, Performative, decode_performative
from .values import BadValue

__all__ = ["DecodeError", "ProtocolHeader", "Frame", "FrameDecoder", "MAX_MESSAGE_JOIN"]

#: multi-frame message payloads are joined for the summary up to this size
MAX_MESSAGE_JOIN = 1024 * 1024

_MAGIC = b"AMQP"
_MAGIC_SIZE = int.from_bytes(_MAGIC, "big")  # a frame this big would read as a header
_FRAME_HEADER = struct.Struct(">IBBH")  # size, doff, type, channel
_PROTOCOL_NAMES = {0: "amqp", 2: "tls", 3: "sasl"}
_TRANSFER = 0x14
_DETACH = 0x16
_END = 0x17
_CLOSE = 0x18


class DecodeError(Exception):
    """Malformed input: the one exception the decoder raises for bad bytes.

    ``offset`` is where the bad item (header or frame) starts in the stream.
    ``items`` holds what the failing ``feed()`` call had completed before the
    bad item, so a caller can still record them.
    """

    def __init__(self, offset: int, reason: str, items: list[Any] | None = None) -> None:
        super().__init__(f"offset {offset}: {reason}")
        self.offset = offset
        self.reason = reason
        self.items: list[Any] = items if items is not None else []

    def __reduce__(self) -> tuple[Any, ...]:
        return (DecodeError, (self.offset, self.reason, self.items))


@dataclass(frozen=True, slots=True)
class ProtocolHeader:
    """The 8-byte protocol header: ``AMQP`` id major minor revision."""

    offset: int
    protocol_id: int
    major: int
    minor: int
    revision: int

    @property
    def name(self) -> str:
        """``"amqp"``, ``"tls"`` or ``"sasl"``."""
        return _PROTOCOL_NAMES.get(self.protocol_id, str(self.protocol_id))


_UNSET: Any = object()


@dataclass(slots=True)
class Frame:
    """One AMQP or SASL frame as it was on the wire.

    ``performative`` is ``None`` for an empty frame (a heartbeat); ``payload``
    holds the bytes after the performative (a transfer's message bytes).
    """

    offset: int
    size: int
    doff: int
    type: int
    channel: int
    performative: Performative | None
    payload: bytes
    # the whole message's bytes when this is the last frame of a multi-frame message
    _message_bytes: bytes | None = field(default=None, repr=False, compare=False)
    _message: Any = field(default=_UNSET, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The performative's name, or ``"empty"`` for a heartbeat."""
        p = self.performative
        return p.name if p is not None else "empty"

    @property
    def payload_size(self) -> int:
        return len(self.payload)

    @property
    def message(self) -> dict[str, Any] | None:
        """Summary of the message this transfer completes (decoded once, on first use).

        ``None`` unless this is a transfer that ends a message (``more`` not set,
        not aborted) whose bytes decode as message sections.
        """
        if self._message is _UNSET:
            self._message = self._summarize()
        return self._message

    def _summarize(self) -> dict[str, Any] | None:
        p = self.performative
        if p is None or p.descriptor != _TRANSFER:
            return None
        f = p.fields
        if f["more"] or f["aborted"]:
            return None
        data = self._message_bytes if self._message_bytes is not None else self.payload
        if not data:
            return None
        return summarize_message(data)


class FrameDecoder:
    """Incremental decoder for one direction of an AMQP 1.0 connection.

    ``feed()`` takes bytes in any chunking and returns the items completed so
    far; ``eof()`` says the stream ended (and complains about a partial item).
    After the first DecodeError the decoder is failed for good: every later
    call raises the same error, so a tap can keep forwarding bytes and simply
    stop decoding. ``offset`` is the number of bytes fed so far (so an item's
    position in the chunk just fed is ``item.offset - offset_before_feed``);
    ``buffered`` is the bytes of a partial item held back, which starts at
    ``offset - buffered``.
    """

    def __init__(self, max_frame_size: int = 16 * 1024 * 1024) -> None:
        if max_frame_size < 8:
            raise ValueError("max_frame_size must be at least 8")
        self.max_frame_size = max_frame_size
        self.offset = 0  # bytes fed so far
        self._start = 0  # stream offset where the next (possibly partial) item starts
        self._buf = bytearray()
        self._error: DecodeError | None = None
        self._protocol: int | None = None  # id of the last protocol header, None at start
        self._data = Data()
        # (channel, handle) -> joined payload of an unfinished message (None: over the cap)
        self._partial: dict[tuple[int, int], bytearray | None] = {}

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete item held back until more data comes."""
        return len(self._buf)

    @property
    def failed(self) -> DecodeError | None:
        """The error that stopped this decoder, if any."""
        return self._error

    def feed(self, data: bytes | bytearray | memoryview) -> list[ProtocolHeader | Frame]:
        """Consume ``data``; return the headers and frames it completed, in order."""
        if self._error is not None:
            raise self._error.with_traceback(None)  # no traceback growing with each call
        out: list[ProtocolHeader | Frame] = []
        view = data if isinstance(data, bytes) else memoryview(data).cast("B")
        self.offset += len(view)
        try:
            self._feed(view, out)
            return out
        except DecodeError as e:
            e.items = out
            e.__context__ = None  # the internal error's frames would hold views of data
            self._error = e
            self._buf = bytearray()
            self._partial.clear()
        finally:
            if isinstance(view, memoryview):
                view.release()  # the caller may resize its bytearray afterwards
        # raised outside the handler: the stored error keeps no frames holding views of data
        raise self._error.with_traceback(None)

    def eof(self) -> None:
        """The stream ended: raise DecodeError if a partial item is buffered."""
        if self._error is not None:
            raise self._error.with_traceback(None)
        if self._buf:
            need = self._item_length(self._buf, 0, len(self._buf))
            what = "protocol header" if self._buf[:1] == b"A" and need in (0, 8) else "frame"
            if need:
                reason = f"truncated {what}: {len(self._buf)} of {need} bytes"
            else:
                reason = f"truncated {what}: {len(self._buf)} bytes"
            self._error = DecodeError(self._start, reason)
            self._buf = bytearray()
            raise self._error

    # ------------------------------------------------------------------ framing

    def _feed(self, data: bytes | memoryview, out: list[ProtocolHeader | Frame]) -> None:
        n = len(data)
        pos = 0
        buf = self._buf
        # 1. complete the item that is already partly buffered, taking only the bytes it needs
        while buf:
            # the length may be known only now (8 bytes tell it), also after the last byte
            need = self._item_length(buf, 0, len(buf))
            if need and len(buf) >= need:
                item = bytes(buf)
                buf.clear()
                out.append(self._item(item, 0, need))
                self._start += need
                continue
            if pos >= n:
                return
            want = (need if need else 8) - len(buf)
            take = data[pos : pos + want]
            buf += take
            pos += len(take)
        # 2. decode straight from the caller's buffer, keep the incomplete tail
        view = memoryview(data) if pos < n else None
        if view is None:
            return
        unpack = _FRAME_HEADER.unpack_from
        max_size = min(self.max_frame_size, _MAGIC_SIZE - 1)
        expected = SASL_FRAME if self._protocol == 3 else AMQP_FRAME
        frame = self._frame
        while pos < n:
            if n - pos >= 8 and self._protocol is not None:
                # fast path: a well-formed, complete frame of the current layer
                size, doff, ftype, channel = unpack(view, pos)
                if (
                    8 <= size <= max_size
                    and pos + size <= n
                    and ftype == expected
                    and 2 <= doff
                    and doff * 4 <= size
                ):
                    out.append(frame(view, pos, size, doff, ftype, channel))
                    self._start += size
                    pos += size
                    continue
            need = self._item_length(view, pos, n - pos)
            if need == 0 or pos + need > n:
                break
            out.append(self._item(view, pos, need))
            self._start += need
            pos += need
            expected = SASL_FRAME if self._protocol == 3 else AMQP_FRAME
        if pos < n:
            self._buf = bytearray(view[pos:])

    def _item_length(self, v: Any, pos: int, avail: int) -> int:
        """Length of the item at ``v[pos]`` or 0 if more bytes are needed to tell.

        Checks everything that the first 8 bytes decide, as early as the
        bytes allow, so bad input fails fast and nothing huge is ever buffered.
        """
        if self._protocol is None or avail < 4:
            head = bytes(v[pos : pos + min(avail, 4)])
            if self._protocol is None and head != _MAGIC[: len(head)]:
                raise DecodeError(self._start, f"bad protocol header magic {head.hex()}")
            if avail < 4:
                return 0
        if v[pos] == 0x41 and bytes(v[pos : pos + 4]) == _MAGIC:
            if avail < 8:
                return 0
            pid, major, minor, rev = v[pos + 4], v[pos + 5], v[pos + 6], v[pos + 7]
            if pid not in _PROTOCOL_NAMES or (major, minor, rev) != (1, 0, 0):
                raise DecodeError(
                    self._start,
                    f"unsupported protocol header AMQP {pid}-{major}-{minor}-{rev}",
                )
            return 8
        if self._protocol == 2:
            raise DecodeError(self._start, "TLS-encrypted bytes follow; cannot decode")
        size = int.from_bytes(v[pos : pos + 4], "big")
        if size < 8:
            raise DecodeError(self._start, f"frame size {size} < 8")
        if size > self.max_frame_size:
            raise DecodeError(
                self._start, f"frame size {size} > max frame size {self.max_frame_size}"
            )
        if avail < 8:
            return 0
        doff = v[pos + 4]
        ftype = v[pos + 5]
        if doff < 2:
            raise DecodeError(self._start, f"data offset {doff} < 2")
        if doff * 4 > size:
            raise DecodeError(self._start, f"data offset {doff} beyond frame size {size}")
        if ftype != AMQP_FRAME and ftype != SASL_FRAME:
            raise DecodeError(self._start, f"unknown frame type 0x{ftype:02x}")
        expected = SASL_FRAME if self._protocol == 3 else AMQP_FRAME
        if ftype != expected:
            kind = "SASL" if ftype == SASL_FRAME else "AMQP"
            layer = "SASL" if self._protocol == 3 else "AMQP"
            raise DecodeError(self._start, f"{kind} frame after {layer} protocol header")
        return size

    def _item(self, v: Any, pos: int, length: int) -> ProtocolHeader | Frame:
        """Build the header or frame that occupies ``v[pos:pos+length]`` (already checked)."""
        offset = self._start
        if length == 8 and v[pos] == 0x41 and bytes(v[pos : pos + 4]) == _MAGIC:
            h = ProtocolHeader(offset, v[pos + 4], v[pos + 5], v[pos + 6], v[pos + 7])
            self._protocol = h.protocol_id
            return h
        doff = v[pos + 4]
        ftype = v[pos + 5]
        channel = (v[pos + 6] << 8) | v[pos + 7]
        return self._frame(memoryview(v), pos, length, doff, ftype, channel)

    def _frame(
        self, v: memoryview, pos: int, length: int, doff: int, ftype: int, channel: int
    ) -> Frame:
        """Decode the frame at ``v[pos:pos+length]`` whose 8-byte header is valid."""
        offset = self._start
        start = pos + doff * 4
        end = pos + length
        if start == end:
            if ftype == SASL_FRAME:
                raise DecodeError(offset, "empty SASL frame")
            return Frame(offset, length, doff, ftype, channel, None, b"")
        body = v[start:end]
        try:
            perf, used = decode_performative(self._data, body, ftype)
        except BadValue as e:
            raise DecodeError(offset, str(e)) from None
        payload = bytes(body[used:])
        code = perf.descriptor
        frame = Frame(offset, length, doff, ftype, channel, perf, payload)
        if code == _TRANSFER:
            self._join(frame, perf.fields)
        elif payload:
            raise DecodeError(offset, f"{len(payload)} bytes after the {perf.name} performative")
        elif self._partial:
            if code == _DETACH:
                self._partial.pop((channel, perf.fields["handle"]), None)
            elif code == _END:
                for key in [k for k in self._partial if k[0] == channel]:
                    del self._partial[key]
            elif code == _CLOSE:
                self._partial.clear()
        return frame

    def _join(self, frame: Frame, f: dict[str, Any]) -> None:
        """Collect the payloads of a multi-frame message for the last frame's summary."""
        key = (frame.channel, f["handle"])
        partial = self._partial
        if f["aborted"]:
            partial.pop(key, None)
            frame._message = None
            return
        if f["more"]:
            if key in partial:
                acc = partial[key]
                if acc is not None:
                    if len(acc) + len(frame.payload) > MAX_MESSAGE_JOIN:
                        partial[key] = None
                    else:
                        acc += frame.payload
            else:
                too_big = len(frame.payload) > MAX_MESSAGE_JOIN
                partial[key] = None if too_big else bytearray(frame.payload)
            return
        if key in partial:
            acc = partial.pop(key)
            if acc is None or len(acc) + len(frame.payload) > MAX_MESSAGE_JOIN:
                frame._message = None  # too large to summarize
            else:
                acc += frame.payload
                frame._message_bytes = bytes(acc)
