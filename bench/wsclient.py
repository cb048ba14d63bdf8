"""A lean WebSocket client connection for the load generator (RFC 6455, client side).

One ``asyncio.Protocol`` object per connection with ``__slots__``: no task, no
coroutine and no queue while it is idle, the upgrade request written by hand, client
frames masked here, server frames parsed here. The ``websockets`` client costs far more
CPU per connection and per frame; at thousands of connections and hundreds of
thousands of deliveries per second the generator itself would become the limit of what
is measured (see docs/performance.md for the measurement).

Subclasses override :meth:`WSConn.on_text` (called with the frame payload and the
receive time of the TCP chunk that completed it, ``time.time_ns()``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
from typing import cast

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_KEY = base64.b64encode(os.urandom(16))
_ACCEPT = base64.b64encode(hashlib.sha1(_KEY + GUID).digest())
MAX_HEADER = 16384


class HandshakeError(ConnectionError):
    pass


def mask_payload(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte masking ``key`` (RFC 6455 §5.3)."""
    n = len(payload)
    if n == 0:
        return payload
    reps = (n + 3) // 4
    k = int.from_bytes(key * reps, "big") >> (8 * (reps * 4 - n))
    return (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + mask_payload(payload, key)


class WSConn(asyncio.Protocol):
    __slots__ = (
        "buf",
        "close_code",
        "closed",
        "frag",
        "frag_op",
        "opened",
        "request",
        "transport",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.opened: asyncio.Future[None] | None = None
        self.request = b""
        self.closed = False
        self.close_code: int | None = None
        self.frag: list[bytes] | None = None
        self.frag_op = 0

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.opened is not None and not self.opened.done():
            self.opened.set_exception(exc or ConnectionResetError("closed during handshake"))
        self.on_close()

    def data_received(self, data: bytes) -> None:
        if self.opened is not None:
            self._handshake(data)
            return
        buf = self.buf + data if self.buf else data
        now = time.time_ns()
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            hdr = 2
            if n == 126:
                if end - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                hdr = 4
            elif n == 127:
                if end - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hdr = 10
            if b1 & 0x80:
                hdr += 4
            if end - pos < hdr + n:
                break
            payload = buf[pos + hdr : pos + hdr + n]
            if b1 & 0x80:  # servers must not mask, but be lenient
                payload = mask_payload(payload, buf[pos + hdr - 4 : pos + hdr])
            pos += hdr + n
            op = b0 & 0x0F
            if op == 1 or op == 2:
                if b0 & 0x80:
                    self.on_text(payload, now)
                else:
                    self.frag = [payload]
                    self.frag_op = op
            elif op == 0:
                if self.frag is not None:
                    self.frag.append(payload)
                    if b0 & 0x80:
                        whole = b"".join(self.frag)
                        self.frag = None
                        self.on_text(whole, now)
            elif op == 9:
                self.send_frame(10, payload)
            elif op == 8:
                self.close_code = (payload[0] << 8) | payload[1] if len(payload) >= 2 else 1005
                if not self.closed and self.transport is not None:
                    self.send_frame(8, payload[:2])
                    self.transport.close()
                self.closed = True
                self.buf = b""
                return
        self.buf = buf[pos:] if pos < end else b""

    # -- handshake -----------------------------------------------------------------------
    def _handshake(self, data: bytes) -> None:
        self.buf += data
        i = self.buf.find(b"\r\n\r\n")
        if i < 0:
            if len(self.buf) > MAX_HEADER:
                self._fail("handshake response too long")
            return
        head = self.buf[:i].decode("latin-1")
        rest = self.buf[i + 4 :]
        self.buf = b""
        fut = self.opened
        self.opened = None
        lines = head.split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            assert fut is not None
            fut.set_exception(HandshakeError(f"upgrade refused: {lines[0]!r}"))
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            return
        accept = b""
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "sec-websocket-accept":
                accept = v.strip().encode()
        if accept != _ACCEPT:
            assert fut is not None
            fut.set_exception(HandshakeError("bad Sec-WebSocket-Accept"))
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            return
        assert fut is not None
        fut.set_result(None)
        if rest:
            self.data_received(rest)

    def _fail(self, why: str) -> None:
        if self.opened is not None and not self.opened.done():
            self.opened.set_exception(HandshakeError(why))
        self.opened = None
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- API -----------------------------------------------------------------------------
    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(client_frame(opcode, payload))

    def send_text(self, payload: bytes) -> None:
        self.send_frame(1, payload)

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.closed:
            self.send_frame(8, struct.pack("!H", code))
            self.transport.close()
        self.closed = True

    def on_text(self, payload: bytes, now_ns: int) -> None:  # pragma: no cover - overridden
        pass

    def on_close(self) -> None:
        pass


async def open_ws(
    conn: WSConn,
    host: str,
    port: int,
    path: str,
    *,
    local_host: str | None = None,
    subprotocol: str = "hub.v1.json",
    deadline_s: float = 30.0,
) -> WSConn:
    """Connect ``conn`` to ``ws://host:port/path`` and complete the upgrade."""
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[None] = loop.create_future()
    conn.opened = opened
    conn.request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {_KEY.decode()}\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
    ).encode()
    local_addr = (local_host, 0) if local_host else None
    async with asyncio.timeout(deadline_s):
        await loop.create_connection(lambda: conn, host, port, local_addr=local_addr)
        await opened
    return conn
