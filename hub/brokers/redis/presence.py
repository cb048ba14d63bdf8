"""Presence in Redis, shared by every process, with expiry refreshed per process.

Each entry (client id → member) has an expiry in a sorted set; the process that
holds the client refreshes it every ``ttl / 3`` seconds. Entries of a process
that stops refreshing (crashed, partitioned) are purged by the next operation on
the channel once ``ttl`` has passed. Entries lost by Redis are re-added by the
next refresh.
"""

from __future__ import annotations

import asyncio
import logging

from hub.brokers.redis.broker import UNAVAILABLE_ERRORS
from hub.brokers.redis.connector import Connector
from hub.brokers.redis.scripts import (
    PRESENCE_ADD,
    PRESENCE_GET,
    PRESENCE_REFRESH,
    PRESENCE_REMOVE,
    Keys,
)
from hub.protocol.errors import Code, HubError

__all__ = ["RedisPresence"]

log = logging.getLogger("hub.redis")


class RedisPresence:
    """Implements :class:`hub.core.interfaces.Presence` across processes."""

    def __init__(self, connector: Connector, *, ttl: float = 30.0, prefix: str = "hub") -> None:
        self.connector = connector
        connector.retain()
        self.ttl = ttl
        self._ttl_ms = max(1, int(ttl * 1000))
        self._prefix = prefix
        client = connector.client
        self._add = client.register_script(PRESENCE_ADD)
        self._remove = client.register_script(PRESENCE_REMOVE)
        self._get = client.register_script(PRESENCE_GET)
        self._refresh = client.register_script(PRESENCE_REFRESH)
        self._local: dict[str, dict[str, str]] = {}  # channel -> client -> member
        self._task: asyncio.Task[None] | None = None
        self.refresh_failures = 0

    def _keys(self, channel: str) -> list[str]:
        k = Keys(self._prefix, channel)
        return [k.pc, k.pm, k.pz]

    def _ensure_refreshing(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def add(self, channel: str, member: str, client: str) -> bool:
        self._local.setdefault(channel, {})[client] = member
        self._ensure_refreshing()
        try:
            first = await self._add(keys=self._keys(channel), args=[client, member, self._ttl_ms])
        except UNAVAILABLE_ERRORS as exc:
            log.warning("presence add on %s deferred to the next refresh: %r", channel, exc)
            return False
        return bool(first)

    async def remove(self, channel: str, member: str, client: str) -> bool:
        clients = self._local.get(channel)
        if clients is not None:
            clients.pop(client, None)
            if not clients:
                del self._local[channel]
        try:
            last = await self._remove(keys=self._keys(channel), args=[client])
        except UNAVAILABLE_ERRORS as exc:
            log.warning("presence remove on %s left to expiry: %r", channel, exc)
            return False
        return bool(last)

    async def get(self, channel: str) -> dict[str, int]:
        try:
            flat = await self._get(keys=self._keys(channel))
        except UNAVAILABLE_ERRORS:
            raise HubError(Code.UNAVAILABLE, "presence unavailable, retry") from None
        return {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def refresh(self) -> None:
        """Push back the expiry of every local entry (and re-add lost ones)."""
        for channel, clients in list(self._local.items()):
            args: list[str | int] = [self._ttl_ms]
            for c, m in clients.items():
                args += [c, m]
            await self._refresh(keys=self._keys(channel), args=args)

    async def _refresh_loop(self) -> None:
        interval = self.ttl / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except UNAVAILABLE_ERRORS as exc:
                self.refresh_failures += 1
                log.warning("presence refresh failed: %r", exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._local.clear()
        await self.connector.release()
