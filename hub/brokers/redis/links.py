"""The process's pub/sub connection(s): desired state, batched (un)subscribes, reconnects.

:class:`Links` keeps a reference count per Redis pub/sub channel (the desired
state) and one :class:`Link` per connection: one per process, or one per primary
in a cluster (sharded pub/sub). Changes made in one loop turn are reconciled in
one ``SUBSCRIBE a b c`` / ``UNSUBSCRIBE …`` per link. A link that fails is
reconnected with redis-py's capped, jittered exponential backoff
(:class:`redis.backoff.EqualJitterBackoff`) and subscribes everything desired
again; ``on_resubscribed`` is then called once all are confirmed.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.backoff import EqualJitterBackoff
from redis.crc import key_slot

from hub.brokers.redis.connector import Connector

__all__ = ["Link", "Links"]

log = logging.getLogger("hub.redis")

OnMessage = Callable[[bytes, bytes], None]


class Link:
    """One pub/sub connection and what Redis confirmed on it."""

    def __init__(self, owner: Links, key: str) -> None:
        self.owner = owner
        self.key = key
        self.conn: AbstractConnection | None = None
        self.up = False
        self.ever_up = False
        self.resync = False  # reconnected: on_resubscribed once everything is confirmed
        self.active: set[bytes] = set()
        self.sent_sub: set[bytes] = set()
        self.sent_unsub: set[bytes] = set()
        self.lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None
        self.failures = 0
        self.connected = asyncio.Event()

    # -- connection loop -----------------------------------------------------
    async def run(self) -> None:
        owner = self.owner
        attempt = 0
        backoff = EqualJitterBackoff(cap=owner.backoff_cap, base=owner.backoff_base)
        while not owner.closed:
            conn = owner.connector.make_connection(self.key)
            try:
                await conn.connect()  # type: ignore[no-untyped-call]
                self.conn = conn
                self.up = True
                self.connected.set()
                attempt = 0
                if self.ever_up:
                    self.resync = True
                    log.warning("redis pub/sub link %r reconnected", self.key or "main")
                self.ever_up = True
                owner.kick()
                await self._read(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not owner.closed:
                    self.failures += 1
                    log.warning("redis pub/sub link %r down: %r", self.key or "main", exc)
            finally:
                self._down()
                await conn.disconnect(nowait=True)
            if owner.closed:
                return
            await asyncio.sleep(backoff.compute(attempt))
            attempt = min(attempt + 1, 30)

    def _down(self) -> None:
        self.up = False
        self.connected.clear()
        self.conn = None
        self.active.clear()
        self.sent_sub.clear()
        self.sent_unsub.clear()
        self.owner.link_down()

    async def _read(self, conn: AbstractConnection) -> None:
        owner = self.owner
        while True:
            msg: Any = await conn.read_response(timeout=math.inf, push_request=True)
            if not isinstance(msg, list) or len(msg) < 3:
                continue
            kind = msg[0]
            if kind == b"message" or kind == b"smessage":
                owner.on_message(msg[1], msg[2])
            elif kind == b"subscribe" or kind == b"ssubscribe":
                name = msg[1]
                self.sent_sub.discard(name)
                self.active.add(name)
                owner.confirmed(self, name)
            elif kind == b"unsubscribe" or kind == b"sunsubscribe":
                name = msg[1]
                self.sent_unsub.discard(name)
                self.active.discard(name)
                owner.kick()

    def abort(self) -> None:
        """Drop the connection (e.g. it looks deaf): the reader fails and the loop reconnects."""
        conn = self.conn
        if conn is not None:
            self.owner.spawn(conn.disconnect(nowait=True))

    # -- reconciling -----------------------------------------------------------
    async def sync(self, want: set[bytes]) -> None:
        async with self.lock:
            conn = self.conn
            if conn is None or not self.up:
                return
            live = self.active - self.sent_unsub
            to_sub = sorted(want - live - self.sent_sub)
            to_unsub = sorted((self.active | self.sent_sub) - want - self.sent_unsub)
            sub, unsub = self.owner.commands
            commands: list[list[bytes | str]] = [
                [sub, *group] for group in self.owner.batches(to_sub)
            ]
            commands += [[unsub, *group] for group in self.owner.batches(to_unsub)]
            try:
                self.sent_sub.update(to_sub)
                self.sent_unsub.update(to_unsub)
                if commands:  # one write for the whole batch
                    await conn.send_packed_command(conn.pack_commands(commands))
            except Exception as exc:
                log.warning("redis pub/sub link %r: sending failed: %r", self.key, exc)
                await conn.disconnect(nowait=True)
                return
            if self.resync and not self.sent_sub:
                self.resync = False
                self.owner.resubscribed()


class Links:
    """Every pub/sub connection of the process and the channels it needs."""

    def __init__(
        self,
        connector: Connector,
        on_message: OnMessage,
        on_resubscribed: Callable[[], None],
        *,
        backoff_base: float = 0.05,
        backoff_cap: float = 1.0,
    ) -> None:
        self.connector = connector
        self.on_message = on_message
        self._on_resubscribed = on_resubscribed
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.commands = (
            ("SSUBSCRIBE", "SUNSUBSCRIBE")
            if connector.sharded
            else (
                "SUBSCRIBE",
                "UNSUBSCRIBE",
            )
        )
        self.closed = False
        self.desired: dict[bytes, int] = {}
        self.links: dict[str, Link] = {}
        self._keys: dict[bytes, str] = {}
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._kicked = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.reconnects = 0

    def start(self) -> None:
        if not self.connector.sharded:
            self._link("")

    @property
    def up(self) -> bool:
        links = self.links
        return bool(links) and all(link.up for link in links.values())

    async def wait_up(self, timeout: float) -> bool:
        """Wait (at most ``timeout``) until every link is connected."""
        try:
            async with asyncio.timeout(timeout):
                for link in list(self.links.values()):
                    await link.connected.wait()
        except TimeoutError:
            return False
        return True

    def live(self, name: bytes) -> bool:
        """Whether Redis confirmed ``name`` on a connected link (and it is not leaving)."""
        link = self.links.get(self._key(name))
        return link is not None and link.up and name in link.active and name not in link.sent_unsub

    async def wait_live(self, name: bytes, timeout: float) -> bool:
        """Wait (at most ``timeout``) until ``name`` is :meth:`live`: a link that is
        reconnecting (Redis just came back) subscribes it again within moments."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                while not self.live(name):
                    link = self.links.get(self._key(name))
                    if link is None or name not in self.desired:
                        return False
                    if not link.up:
                        await link.connected.wait()
                        continue
                    fut: asyncio.Future[None] = loop.create_future()
                    self._waiters.setdefault(name, []).append(fut)
                    try:
                        await fut
                    finally:
                        waiters = self._waiters.get(name)
                        if waiters is not None and fut in waiters:
                            waiters.remove(fut)
                            if not waiters:
                                del self._waiters[name]
        except TimeoutError:
            return False
        return True

    def _link(self, key: str) -> Link:
        link = self.links.get(key)
        if link is None:
            link = self.links[key] = Link(self, key)
            link.task = asyncio.get_running_loop().create_task(link.run())
        return link

    def _key(self, name: bytes) -> str:
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = self.connector.link_key(name)
        return key

    # -- desired state -------------------------------------------------------------
    async def acquire(self, name: bytes, wait: float = 5.0) -> None:
        """Need ``name``; returns once Redis confirmed it (or its link is down)."""
        n = self.desired.get(name, 0)
        self.desired[name] = n + 1
        link = self._link(self._key(name))
        if n == 0:
            self.kick()
        if (not link.up and link.ever_up) or (name in link.active and name not in link.sent_unsub):
            return  # down (reconnecting subscribes it) or already confirmed
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(name, []).append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), wait)
        except TimeoutError:
            log.warning("redis did not confirm the subscription of %r in time", name)
        except asyncio.CancelledError:
            self.release(name)
            raise
        finally:
            waiters = self._waiters.get(name)
            if waiters is not None and fut in waiters:
                waiters.remove(fut)
                if not waiters:
                    del self._waiters[name]

    def release(self, name: bytes) -> bool:
        """No longer need ``name`` (once per :meth:`acquire`); True when nobody does."""
        n = self.desired.get(name, 0) - 1
        if n > 0:
            self.desired[name] = n
            return False
        self.desired.pop(name, None)
        self._keys.pop(name, None)
        self.kick()
        return True

    def kick(self) -> None:
        """Reconcile every link at the end of this loop turn (one batch per link)."""
        if self._kicked or self.closed:
            return
        self._kicked = True
        asyncio.get_running_loop().call_soon(self._reconcile)

    def _reconcile(self) -> None:
        self._kicked = False
        wants: dict[str, set[bytes]] = {key: set() for key in self.links}
        for name in self.desired:
            wants.setdefault(self._key(name), set()).add(name)
        for key, want in wants.items():
            self.spawn(self._link(key).sync(want))

    def batches(self, names: list[bytes]) -> list[list[bytes]]:
        """One command's channels: all of them, or (sharded) those of one hash slot."""
        if not names:
            return []
        if not self.connector.sharded:
            return [names]
        slots: dict[int, list[bytes]] = {}
        for name in names:
            slots.setdefault(key_slot(name), []).append(name)
        return list(slots.values())

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def confirmed(self, link: Link, name: bytes) -> None:
        for fut in self._waiters.pop(name, ()):
            if not fut.done():
                fut.set_result(None)
        if link.resync and not link.sent_sub:
            link.resync = False
            self.resubscribed()
        self.kick()

    def link_down(self) -> None:
        # subscribers waiting for a confirmation go on: reconnecting subscribes them
        for name, futs in list(self._waiters.items()):
            for fut in futs:
                if not fut.done():
                    fut.set_result(None)
            del self._waiters[name]

    def resubscribed(self) -> None:
        self.reconnects += 1
        self._on_resubscribed()

    def abort(self) -> None:
        for link in self.links.values():
            link.abort()

    async def close(self) -> None:
        self.closed = True
        tasks = [link.task for link in self.links.values() if link.task is not None]
        tasks += list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in self.links.values():
            if link.conn is not None:
                await link.conn.disconnect(nowait=True)
