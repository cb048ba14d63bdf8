"""A bare protocol test client on the `websockets` library: send requests, read
replies by id, keep pushes in order. No reconnect logic: tests see the wire."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import msgpack
import websockets
from websockets.asyncio.client import ClientConnection

__all__ = ["WsClient", "close_all", "open_ws"]

_OPEN: list[WsClient] = []


async def close_all() -> None:
    """Close every client the test opened (an autouse fixture calls this)."""
    while _OPEN:
        c = _OPEN.pop()
        await c.ws.close()


class WsClient:
    def __init__(self, ws: ClientConnection, binary: bool) -> None:
        self.ws = ws
        self.binary = binary
        self.next_id = 1
        self.pushes: list[dict[str, Any]] = []
        self.replies: dict[int, dict[str, Any]] = {}
        _OPEN.append(self)

    def encode(self, obj: Any) -> str | bytes:
        return msgpack.packb(obj) if self.binary else json.dumps(obj)

    def decode(self, frame: str | bytes) -> Any:
        if self.binary:
            assert isinstance(frame, bytes), "msgpack connection got a text frame"
            return msgpack.unpackb(frame)
        assert isinstance(frame, str), "json connection got a binary frame"
        return json.loads(frame)

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def send(self, op: str, **fields: Any) -> int:
        rid = self.next_id
        self.next_id += 1
        await self.ws.send(self.encode({"id": rid, "op": op, **fields}))
        return rid

    async def _read_one(self, timeout: float) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        obj = self.decode(frame)
        assert isinstance(obj, dict)
        if "id" in obj and "push" not in obj:
            self.replies[obj["id"]] = obj
        else:
            self.pushes.append(obj)
        return obj

    async def reply(self, rid: int, timeout: float = 5.0) -> dict[str, Any]:
        while rid not in self.replies:
            await self._read_one(timeout)
        return self.replies.pop(rid)

    async def call(self, op: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        return await self.reply(await self.send(op, **fields), timeout)

    async def ok(self, op: str, **fields: Any) -> dict[str, Any]:
        r = await self.call(op, **fields)
        assert r.get("ok") is True, r
        return r

    async def push(
        self, kind: str | None = None, timeout: float = 5.0, **match: Any
    ) -> dict[str, Any]:
        """The next push of ``kind`` (and matching fields), in arrival order."""
        while True:
            for i, p in enumerate(self.pushes):
                if (kind is None or p.get("push") == kind) and all(
                    p.get(k) == v for k, v in match.items()
                ):
                    return self.pushes.pop(i)
            await self._read_one(timeout)

    async def messages(self, channel: str, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        return [await self.push("message", timeout, channel=channel) for _ in range(n)]

    async def closed(self, timeout: float = 5.0) -> tuple[int | None, str]:
        """Read until the server closes; return its close code and reason."""
        try:
            while True:
                await self._read_one(timeout)
        except websockets.ConnectionClosed as exc:
            rcvd = exc.rcvd
            return (None, "") if rcvd is None else (rcvd.code, rcvd.reason)

    async def close(self) -> None:
        await self.ws.close()


async def open_ws(
    url: str,
    token: str | None = None,
    *,
    msgpack_codec: bool = False,
    connect: bool = True,
    via_query: bool = False,
    subprotocols: Sequence[str] | None = None,
    max_size: int | None = 4 << 20,
) -> WsClient:
    """Open a connection; with ``token`` and ``connect``, authenticate with the connect op."""
    protos = (
        list(subprotocols)
        if subprotocols is not None
        else (["hub.v1.msgpack"] if msgpack_codec else ["hub.v1.json"])
    )
    target = f"{url}?token={token}" if (token and via_query) else url
    ws = await websockets.connect(
        target,
        subprotocols=protos or None,
        max_size=max_size,
        open_timeout=5,  # type: ignore[arg-type]
    )
    client = WsClient(ws, binary=ws.subprotocol == "hub.v1.msgpack")
    if token and connect and not via_query:
        r = await client.call("connect", token=token)
        assert r["ok"], r
    return client
