"""A WebSocket client on a plain socket, for tests that must see every byte the hub
writes, in order, up to the end of the TCP stream (frames after a close frame, a
reply that precedes a close)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Frame", "RawWs", "client_frame"]

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes = b"", *, masked: bool = True) -> bytes:
    """One client frame (masked unless told otherwise: an unmasked one is a violation)."""
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = bytes([0x80 | opcode, mask_bit | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, mask_bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([0x80 | opcode, mask_bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@dataclass
class Frame:
    opcode: int
    payload: bytes

    @property
    def is_data(self) -> bool:
        return self.opcode in (OP_TEXT, OP_BINARY)

    def json(self) -> Any:
        return json.loads(self.payload)

    @property
    def close_code(self) -> int | None:
        if self.opcode != OP_CLOSE or len(self.payload) < 2:
            return None
        return int(struct.unpack("!H", self.payload[:2])[0])


def parse_server_frames(data: bytes) -> list[Frame]:
    """Unmasked server frames; a truncated last frame is an error."""
    frames: list[Frame] = []
    pos = 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        assert not b1 & 0x80, "server frames are never masked"
        n = b1 & 0x7F
        pos += 2
        if n == 126:
            (n,) = struct.unpack("!H", data[pos : pos + 2])
            pos += 2
        elif n == 127:
            (n,) = struct.unpack("!Q", data[pos : pos + 8])
            pos += 8
        assert pos + n <= len(data), "the stream ends inside a frame"
        frames.append(Frame(b0 & 0x0F, data[pos : pos + n]))
        pos += n
    return frames


class RawWs:
    """An upgraded connection on a blocking socket with an optional tiny receive
    buffer (a client that does not read is a slow consumer)."""

    def __init__(self, port: int, token: str | None = None, *, rcvbuf: int | None = None) -> None:
        sock = socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect(("127.0.0.1", port))
        query = b"" if token is None else b"?token=" + token.encode()
        sock.sendall(
            b"GET /ws" + query + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: hub.v1.json\r\n\r\n"
        )
        self.sock = sock

    @staticmethod
    def request(rid: int, op: str, **fields: Any) -> bytes:
        return client_frame(OP_TEXT, json.dumps({"id": rid, "op": op, **fields}).encode())

    def send(self, *frames: bytes) -> None:
        """All frames in one ``sendall`` (the hub usually reads them in one go)."""
        self.sock.sendall(b"".join(frames))

    async def read_to_end(self, timeout: float = 15.0) -> tuple[bytes, list[Frame]]:
        """Everything until the hub closes the TCP connection: (HTTP head, frames)."""
        self.sock.setblocking(False)
        data = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the hub did not close within {timeout}s") from None
                await asyncio.sleep(0.005)
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        self.sock.close()
        head, sep, rest = bytes(data).partition(b"\r\n\r\n")
        assert sep, f"no HTTP response: {bytes(data[:200])!r}"
        return head, parse_server_frames(rest)


def data_after_close(frames: list[Frame]) -> list[Frame]:
    """The data frames written after the first close frame (RFC 6455 §5.5.1: none)."""
    for i, f in enumerate(frames):
        if f.opcode == OP_CLOSE:
            return [g for g in frames[i + 1 :] if g.is_data]
    raise AssertionError("no close frame")
