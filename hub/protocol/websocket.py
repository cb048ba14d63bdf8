"""Sans-I/O RFC 6455 framing for the server side of the hub's WebSocket endpoint.

Nothing here does I/O or imports asyncio: bytes go in, events and bytes come
out. The connection object (a lean ``asyncio.Protocol``) stores the only
per-connection state, one :class:`FrameParser`; everything else is a function.

Public API (the HTTP upgrade lives in :mod:`hub.protocol.handshake`)::

    encode_frame(opcode: int, payload: bytes | bytearray, fin: bool = True) -> bytes
    text_frame(payload: bytes | bytearray) -> bytes
    binary_frame(payload: bytes | bytearray) -> bytes
    ping_frame(payload: bytes = b"") -> bytes
    pong_frame(payload: bytes) -> bytes
    close_frame(code: int, reason: str = "") -> bytes
    is_valid_close_code(code: int) -> bool

    FrameParser(max_size: int = DEFAULT_MAX_SIZE)
        .feed(data: bytes) -> list[Event]
        .closed -> bool
    Event = Message | Ping | Pong | Close       (NamedTuples)
        Message(opcode: int, payload: bytes)    opcode is OP_TEXT or OP_BINARY
        Ping(payload: bytes), Pong(payload: bytes)
        Close(code: int | None, reason: str)

Server frames are never masked, so the bytes of one broadcast frame can be
written unchanged to every subscriber. Client frames must be masked.

Text messages are delivered as ``bytes`` already validated as UTF-8 (codecs
such as orjson read bytes directly; no ``str`` is built on the hot path).

After a :class:`Close` event or a :class:`ProtocolViolation`, the parser is
finished: the rest of that input and any later input is discarded.
Length fields need not be minimal (accepted, as most implementations do).

Exceptions (one hierarchy)::

    WebSocketError(Exception)
     ├── HandshakeError(status: int, message: str)       HTTP upgrade refused
     └── ProtocolViolation(code: int, reason: str)       close the connection
                                                         with ``code``
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_INVALID_DATA",
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_NORMAL",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_UNSUPPORTED_DATA",
    "DEFAULT_MAX_SIZE",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Close",
    "Event",
    "FrameParser",
    "HandshakeError",
    "Message",
    "Ping",
    "Pong",
    "ProtocolViolation",
    "WebSocketError",
    "binary_frame",
    "close_frame",
    "encode_frame",
    "is_valid_close_code",
    "ping_frame",
    "pong_frame",
    "text_frame",
]

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_UNSUPPORTED_DATA: Final = 1003
CLOSE_INVALID_DATA: Final = 1007
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_MESSAGE_TOO_BIG: Final = 1009
CLOSE_INTERNAL_ERROR: Final = 1011

DEFAULT_MAX_SIZE: Final = 1 << 20
MAX_CONTROL_PAYLOAD: Final = 125

# Codes an endpoint may put in a close frame: RFC 6455 §7.4.1 and the IANA
# registry (1004-1006 and 1015 are reserved), plus 3000-4999.
_WIRE_CLOSE_CODES: Final = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})
_KNOWN_OPCODES: Final = frozenset({0x0, 0x1, 0x2, 0x8, 0x9, 0xA})
_CLOSED: Final = -1  # FrameParser._opcode once finished

_pack_short = struct.Struct("!BB").pack
_pack_medium = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack
_unpack_u16 = struct.Struct("!H").unpack_from
_unpack_u64 = struct.Struct("!Q").unpack_from
_pack_code = struct.Struct("!H").pack
_new_tuple = tuple.__new__


class WebSocketError(Exception):
    """Base class of the errors of the WebSocket layer."""


class HandshakeError(WebSocketError):
    """The HTTP upgrade is refused: answer with ``status`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


class ProtocolViolation(WebSocketError):
    """The peer broke RFC 6455: send a close frame with ``code`` and close.

    ``events`` holds the events completed by the same :meth:`FrameParser.feed`
    call before the violation, so the caller may still process them.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
        self.events: list[Event] = []


class Message(NamedTuple):
    """A complete data message; text payloads are valid UTF-8 bytes."""

    opcode: int
    payload: bytes


class Ping(NamedTuple):
    payload: bytes


class Pong(NamedTuple):
    payload: bytes


class Close(NamedTuple):
    """A close frame; ``code`` is None when the frame had no payload."""

    code: int | None
    reason: str


Event = Message | Ping | Pong | Close


def _py_apply_mask(data: bytes | bytearray | memoryview, mask: bytes | bytearray) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (pure-Python fallback)."""
    n = len(data)
    key = (bytes(mask) * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


try:
    from websockets.speedups import apply_mask as _apply_mask
except ImportError:
    _apply_mask = _py_apply_mask


# --------------------------------------------------------------------------- encoding


def encode_frame(opcode: int, payload: bytes | bytearray, fin: bool = True) -> bytes:
    """Return one unmasked server frame. The caller keeps control frames ≤ 125 bytes."""
    head = opcode | 0x80 if fin else opcode
    n = len(payload)
    if n < 126:
        return _pack_short(head, n) + payload
    if n < 65536:
        return _pack_medium(head, 126, n) + payload
    return _pack_long(head, 127, n) + payload


def text_frame(payload: bytes | bytearray) -> bytes:
    """A final text frame; ``payload`` must be UTF-8."""
    return encode_frame(OP_TEXT, payload)


def binary_frame(payload: bytes | bytearray) -> bytes:
    return encode_frame(OP_BINARY, payload)


def _control_frame(opcode: int, payload: bytes) -> bytes:
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise ValueError(f"control frame payload is {len(payload)} bytes, more than 125")
    return encode_frame(opcode, payload)


def ping_frame(payload: bytes = b"") -> bytes:
    return _control_frame(OP_PING, payload)


def pong_frame(payload: bytes) -> bytes:
    return _control_frame(OP_PONG, payload)


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame on the wire."""
    return code in _WIRE_CLOSE_CODES or 3000 <= code < 5000


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame; ``reason`` is cut to fit 125 bytes without splitting a character."""
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} cannot be sent")
    raw = reason.encode()[: MAX_CONTROL_PAYLOAD - 2]
    raw = raw.decode("utf-8", "ignore").encode()
    return encode_frame(OP_CLOSE, _pack_code(code) + raw)


# --------------------------------------------------------------------------- decoding


def _message(opcode: int, payload: bytes) -> Message:
    if opcode == OP_TEXT and not payload.isascii():
        try:
            payload.decode()
        except UnicodeDecodeError:
            raise ProtocolViolation(CLOSE_INVALID_DATA, "invalid UTF-8 in text message") from None
    return Message(opcode, payload)


def _close_event(payload: bytes) -> Close:
    if not payload:
        return Close(None, "")
    if len(payload) == 1:
        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "close frame payload of 1 byte")
    code = _unpack_u16(payload)[0]
    if not is_valid_close_code(code):
        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise ProtocolViolation(CLOSE_INVALID_DATA, "invalid UTF-8 in close reason") from None
    return Close(code, reason)


def _check_head(b0: int, b1: int, fragmenting: bool) -> None:
    """Reject a frame from its first two bytes (RFC 6455 §5.2, §5.4, §5.5)."""
    opcode = b0 & 0x0F
    if b0 & 0x70:
        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "reserved bits must be 0")
    if opcode not in _KNOWN_OPCODES:
        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
    if not b1 & 0x80:
        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "client frame is not masked")
    if opcode & 0x8:
        if not b0 & 0x80:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
        if b1 & 0x7F > MAX_CONTROL_PAYLOAD:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "control frame longer than 125 bytes")
    elif opcode == OP_CONTINUATION:
        if not fragmenting:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "continuation without a message")
    elif fragmenting:
        raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")


class FrameParser:
    """Turn masked client bytes into events; the whole per-connection read state.

    Holds the unparsed bytes (None when there are none, so an idle connection
    holds no buffer), the fragments of an unfinished message (None outside
    one), that message's opcode (0 outside one, -1 once finished) and
    ``max_size``, the largest message or frame payload accepted.
    """

    __slots__ = ("_buf", "_frag", "_opcode", "max_size")

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self._buf: bytearray | None = None
        self._frag: bytearray | None = None
        self._opcode = 0
        self.max_size = max_size

    @property
    def closed(self) -> bool:
        """True once a Close event or a violation ended the stream."""
        return self._opcode == _CLOSED

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data``; return the events completed. Raises ProtocolViolation."""
        if self._buf is None and not self._opcode and len(data) >= 8:
            # Fast path: ``data`` is exactly one final, masked data frame < 64 KiB.
            b0 = data[0]
            b1 = data[1]
            if (b0 == 0x81 or b0 == 0x82) and 0x80 <= b1 < 0xFF:
                if b1 == 0xFE:
                    length, start = _unpack_u16(data, 2)[0], 8
                else:
                    length, start = b1 - 0x80, 6
                if len(data) == start + length and length <= self.max_size:
                    payload = _apply_mask(data[start:], data[start - 4 : start])
                    if b0 == 0x82 or payload.isascii():
                        return [_new_tuple(Message, (b0 & 0x0F, payload))]
        return self._feed(data)

    def _feed(self, data: bytes) -> list[Event]:
        if self._opcode == _CLOSED:
            return []
        buf = self._buf
        if buf is None:
            view: bytes | bytearray = data
        else:
            buf += data
            view = buf
        events: list[Event] = []
        try:
            pos = self._parse(view, events)
        except ProtocolViolation as exc:
            self._finish()
            exc.events = events
            raise
        if pos == len(view) or self._opcode == _CLOSED:
            self._buf = None
        elif buf is None:
            self._buf = bytearray(memoryview(data)[pos:])
        else:
            del buf[:pos]
        return events

    def _finish(self) -> None:
        self._buf = self._frag = None
        self._opcode = _CLOSED

    def _parse(self, view: bytes | bytearray, events: list[Event]) -> int:
        """Append the events of the complete frames in ``view``; return bytes used."""
        pos = 0
        end = len(view)
        while end - pos >= 2:
            b0 = view[pos]
            b1 = view[pos + 1]
            _check_head(b0, b1, self._frag is not None)
            length = b1 & 0x7F
            if length < 126:
                start = pos + 6
            elif length == 126:
                if end - pos < 4:
                    break
                length = _unpack_u16(view, pos + 2)[0]
                start = pos + 8
            else:
                if end - pos < 10:
                    break
                length = _unpack_u64(view, pos + 2)[0]
                start = pos + 14
            self._check_size(b0, length)
            stop = start + length
            if stop > end:
                break
            pos = stop
            event = self._frame(b0, _apply_mask(view[start:stop], view[start - 4 : start]))
            if event is not None:
                events.append(event)
                if self._opcode == _CLOSED:
                    break
        return pos

    def _check_size(self, b0: int, length: int) -> None:
        if length >> 63:
            raise ProtocolViolation(CLOSE_PROTOCOL_ERROR, "frame length has its top bit set")
        frag = self._frag
        total = length + len(frag) if frag is not None and not b0 & 0x0F else length
        if total > self.max_size:
            raise ProtocolViolation(
                CLOSE_MESSAGE_TOO_BIG, f"message of {total} bytes, limit {self.max_size}"
            )

    def _frame(self, b0: int, payload: bytes) -> Event | None:
        """Apply one checked, unmasked frame; return its event, if it completes one."""
        opcode = b0 & 0x0F
        if opcode & 0x8:
            return self._control(opcode, payload)
        if opcode:
            if b0 & 0x80:
                return _message(opcode, payload)
            self._frag = bytearray(payload)
            self._opcode = opcode
            return None
        frag = self._frag
        assert frag is not None  # _check_head refused a continuation outside a message
        frag += payload
        if not b0 & 0x80:
            return None
        opcode = self._opcode
        self._frag = None
        self._opcode = 0
        return _message(opcode, bytes(frag))

    def _control(self, opcode: int, payload: bytes) -> Event:
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        event = _close_event(payload)
        self._finish()
        return event
