"""Raw HTTP over a real TCP socket: what a misbehaving (or very old) client sends."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["RawResponse", "exchange", "parse_response", "read_until_closed"]


@dataclass
class RawResponse:
    status_line: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    closed: bool  # the server closed the connection after the response
    rest: bytes = b""  # what came after this response (pipelined answers)

    @property
    def status(self) -> int:
        return int(self.status_line.split(" ")[1])

    def json(self) -> Any:
        return json.loads(self.body)


def parse_response(raw: bytes, closed: bool) -> RawResponse:
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete response head in {raw!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    rest = b""
    if "content-length" in headers:
        body, rest = body[: int(headers["content-length"])], body[int(headers["content-length"]) :]
    return RawResponse(status_line, headers, body, closed, rest)


async def read_until_closed(reader: asyncio.StreamReader, timeout: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (``True``) or ``timeout`` passes."""
    seen = b""
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                seen += chunk
    except TimeoutError:
        return seen, False
    except ConnectionResetError:
        pass
    return seen, True


async def exchange(port: int, data: bytes, timeout: float = 5.0) -> RawResponse:
    """Send ``data`` on a new connection; the response and whether the server closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        raw, closed = await read_until_closed(reader, timeout)
    finally:
        writer.close()
    return parse_response(raw, closed)
