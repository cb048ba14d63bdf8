"""The reference floor: a bare aiohttp WebSocket broadcast server, payload encoded once.

This is the "bare aiohttp broadcast, encode once" server of issue 7, kept in bench/ so
every benchmark run can measure it next to the hub on the same machine, in the same
session. It speaks just enough of PROTOCOL.md for the load generator's scenarios to
run unchanged against both servers:

- ``GET /ws`` (any ``?token=`` is accepted and ignored; no auth, no persistence),
  subprotocol ``hub.v1.json`` (text frames, one JSON object per frame);
- ops ``connect``, ``subscribe``, ``unsubscribe``, ``publish``, ``ping``;
- a ``publish`` is broadcast to the channel's subscribers as a ``message`` push with
  ``channel``, ``offset``, ``epoch``, ``data``, ``from``, ``ts`` and answered with
  ``{"id": N, "ok": true, "offset": k, "epoch": E}``;
- ``GET /healthz``; one line containing "ready" on stdout once it accepts connections.

Broadcast modes (``--mode``), the rows of DESIGN.md's "hot path" table:

- ``await`` (default, *the* reference floor of issue 7): one ``WebSocketResponse``
  per connection, the push encoded once, ``await ws.send_frame(payload)`` per
  subscriber (aiohttp builds the frame header per subscriber);
- ``write``: the frame (header + payload) built once, ``transport.write()`` per
  subscriber, no await;
- ``coalesce``: as ``write`` but frames queued per connection and flushed with one
  ``transport.write()`` per connection per loop iteration.

Run: ``python -m bench.floor --port 8765 [--host 127.0.0.1] [--mode await]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import struct
import sys
import time
from typing import Any

import orjson
from aiohttp import WSMsgType, web

EPOCH = "floor"
MODES = ("await", "write", "coalesce")


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final RFC 6455 text frame carrying ``payload``."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class Conn:
    """What the floor keeps per connection (besides aiohttp's own objects)."""

    __slots__ = ("channels", "pending", "transport", "ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> None:
        self.ws = ws
        self.transport = transport
        self.channels: set[str] = set()
        self.pending: list[bytes] | None = None


class Floor:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.subs: dict[str, set[Conn]] = {}
        self.offsets: dict[str, int] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.dirty: list[Conn] = []
        self.flush_scheduled = False
        self.clients = 0

    # -- broadcast ---------------------------------------------------------------------
    async def broadcast(self, channel: str, payload: bytes) -> None:
        subs = self.subs.get(channel)
        if not subs:
            return
        if self.mode == "await":
            # A per-channel lock keeps every subscriber's order equal to the offset order
            # even when a send has to wait for a drain.
            lock = self.locks.setdefault(channel, asyncio.Lock())
            async with lock:
                for conn in list(subs):
                    if conn.ws.closed:
                        continue
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await conn.ws.send_frame(payload, WSMsgType.TEXT)
            return
        frame = text_frame(payload)
        if self.mode == "write":
            for conn in subs:
                tr = conn.transport
                if tr is not None and not tr.is_closing():
                    tr.write(frame)
            return
        # coalesce
        for conn in subs:
            if conn.pending is None:
                conn.pending = [frame]
                self.dirty.append(conn)
            else:
                conn.pending.append(frame)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        dirty, self.dirty = self.dirty, []
        for conn in dirty:
            frames, conn.pending = conn.pending, None
            tr = conn.transport
            if frames and tr is not None and not tr.is_closing():
                tr.write(frames[0] if len(frames) == 1 else b"".join(frames))

    # -- requests ----------------------------------------------------------------------
    async def handle(self, conn: Conn, raw: str | bytes) -> None:
        try:
            req = orjson.loads(raw)
            rid = req["id"]
            op = req["op"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await conn.ws.send_frame(
                b'{"push":"error","code":107,"message":"bad request"}', WSMsgType.TEXT
            )
            return
        reply: dict[str, Any] = {"id": rid, "ok": True}
        if op == "publish":
            channel = req.get("channel")
            if not isinstance(channel, str):
                reply = _error(rid, 107, "channel required")
            else:
                offset = self.offsets.get(channel, 0) + 1
                self.offsets[channel] = offset
                push = orjson.dumps(
                    {
                        "push": "message",
                        "channel": channel,
                        "offset": offset,
                        "epoch": EPOCH,
                        "data": req.get("data"),
                        "from": None,
                        "ts": time.time_ns() // 1_000_000,
                    }
                )
                await self.broadcast(channel, push)
                reply["offset"] = offset
                reply["epoch"] = EPOCH
        elif op == "subscribe":
            channel = req.get("channel")
            if not isinstance(channel, str):
                reply = _error(rid, 107, "channel required")
            elif channel in conn.channels:
                reply = _error(rid, 105, "already subscribed")
            else:
                conn.channels.add(channel)
                self.subs.setdefault(channel, set()).add(conn)
                reply.update(channel=channel, offset=self.offsets.get(channel, 0), epoch=EPOCH)
        elif op == "unsubscribe":
            channel = req.get("channel")
            if isinstance(channel, str) and channel in conn.channels:
                conn.channels.discard(channel)
                self.subs.get(channel, set()).discard(conn)
            else:
                reply = _error(rid, 110, "not subscribed")
        elif op == "connect":
            reply.update(client=str(id(conn)), member=None, ping=25, subs={})
        elif op != "ping":
            reply = _error(rid, 104, "unknown op")
        await conn.ws.send_frame(orjson.dumps(reply), WSMsgType.TEXT)

    async def ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("hub.v1.json",), autoping=True, compress=False)
        await ws.prepare(request)
        conn = Conn(ws, request.transport)  # type: ignore[arg-type]
        self.clients += 1
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self.handle(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.clients -= 1
            for channel in conn.channels:
                self.subs.get(channel, set()).discard(conn)
        return ws

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "clients": self.clients, "mode": self.mode})


def _error(rid: int, code: int, message: str) -> dict[str, Any]:
    return {"id": rid, "ok": False, "error": {"code": code, "message": message}}


def raise_nofile_limit() -> int:
    """Raise the soft open-files limit to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def serve(host: str, port: int, mode: str) -> None:
    floor = Floor(mode)
    app = web.Application()
    app.router.add_get("/ws", floor.ws_handler)
    app.router.add_get("/healthz", floor.healthz)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096, shutdown_timeout=1.0)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"floor ready on ws://{host}:{port}/ws mode={mode} pid={os.getpid()}", flush=True)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--mode", choices=MODES, default="await")
    args = p.parse_args(argv)
    if not args.host.startswith("127."):
        print("the floor server binds loopback addresses only (127.0.0.0/8)", file=sys.stderr)
        return 2
    raise_nofile_limit()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(args.host, args.port, args.mode))
    else:
        uvloop.run(serve(args.host, args.port, args.mode))
    return 0


if __name__ == "__main__":
    sys.exit(main())
