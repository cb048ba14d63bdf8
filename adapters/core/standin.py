"""Running one stand-in aiohttp application on a free loopback port."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web

from .faults import Faults

__all__ = ["RECENT", "Recent", "StandinServer", "json_response", "request_id"]

RECENT = 10_000


class Recent(list[Any]):
    """A list that keeps only about its last ``maxlen`` items.

    The stand-ins record what they accepted (``sent``) for tests to read; in
    sandbox mode (``hub serve --sandbox-providers``) they run as long as the hub,
    so the record must not grow with every message. Past ``maxlen`` the oldest
    tenth is dropped at once (amortised O(1) appends)."""

    def __init__(self, maxlen: int = RECENT) -> None:
        super().__init__()
        self.maxlen = maxlen

    def append(self, item: Any) -> None:
        super().append(item)
        if len(self) > self.maxlen:
            del self[: len(self) - self.maxlen + max(1, self.maxlen // 10)]


def request_id() -> str:
    return str(uuid.uuid4()).upper()


def json_response(body: Any, status: int = 200, **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers=headers or None)


class StandinServer:
    """Base of the stand-ins: an app, a runner, fault injection and outgoing pushes."""

    name = "standin"

    def __init__(self) -> None:
        self.faults = Faults()
        self.app = web.Application()
        self.base_url = ""
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.push_failures = 0

    async def start(self, host: str = "127.0.0.1") -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{port}"

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def push(self, url: str, data: bytes, content_type: str) -> int:
        """POST a callback the way the provider would; return the HTTP status."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.post(
                url, data=data, headers={"Content-Type": content_type}
            ) as response:
                await response.read()
                if response.status != 200:
                    self.push_failures += 1
                return response.status
        except aiohttp.ClientError:
            self.push_failures += 1
            return 0

    async def wait_pushes(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        self.faults.release()
        await self.wait_pushes()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
