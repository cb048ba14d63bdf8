"""The embedded broker: one process, offsets and the recovery window in memory,
every publication archived in the store by group commit.

Per channel it keeps a :class:`ChannelLog` (epoch, top offset, the window of
recent publications, idempotency keys), loaded from the store on first use.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from hub.core.interfaces import ArchivedMessage, BrokerHandler, Store
from hub.core.types import HistoryPage, Position, Publication, PublishResult, Recovery
from hub.protocol.codec import JSON
from hub.protocol.errors import Code, HubError
from hub.protocol.requests import Since
from hub.store.batch import BatchWriter

__all__ = ["ChannelLog", "MemoryBroker", "MemoryPresence"]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ChannelLog:
    """A channel's stream: epoch, top offset, recent publications and idempotency keys.

    The window and the key index are created on first use: most channels a process
    knows (every connected member's personal channel) hold no message at all."""

    __slots__ = ("epoch", "idem", "idem_order", "ring", "size", "top")

    def __init__(self, epoch: str, top: int, size: int) -> None:
        self.epoch = epoch
        self.top = top
        self.size = size
        self.ring: deque[Publication] | None = None
        self.idem: dict[str, int] | None = None
        self.idem_order: deque[tuple[int, str]] | None = None

    def first_offset(self) -> int:
        """The oldest offset in the window (``top + 1`` when the window is empty)."""
        ring = self.ring
        return ring[0].offset if ring else self.top + 1

    def window(self) -> deque[Publication] | tuple[()]:
        return self.ring if self.ring is not None else ()

    def seen(self, idem: str) -> int | None:
        return None if self.idem is None else self.idem.get(idem)

    def append(self, pub: Publication, idem: str | None) -> None:
        if self.ring is None:
            self.ring = deque(maxlen=self.size)
        self.ring.append(pub)
        if idem is not None:
            if self.idem is None or self.idem_order is None:
                self.idem, self.idem_order = {}, deque()
            self.idem[idem] = pub.offset
            self.idem_order.append((pub.offset, idem))
        self._forget_idem()

    def trim(self, min_ts: int) -> None:
        ring = self.ring
        while ring and ring[0].ts < min_ts:
            ring.popleft()
        self._forget_idem()

    def _forget_idem(self) -> None:
        order, keys = self.idem_order, self.idem
        if not order or keys is None:
            return
        first = self.first_offset()
        while order and order[0][0] < first:
            _, key = order.popleft()
            if keys.get(key, first) < first:
                del keys[key]


class MemoryBroker:
    """Implements :class:`hub.core.interfaces.Broker` for a single process."""

    def __init__(
        self,
        store: Store,
        *,
        history_size: int = 1000,
        history_ttl: float = 86400.0,
        flush_interval: float = 0.0,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self._store = store
        self._size = history_size
        self._ttl_ms = int(history_ttl * 1000)
        self._clock = clock
        self._logs: dict[str, ChannelLog] = {}
        self._loading: dict[str, asyncio.Future[ChannelLog]] = {}
        self._handler: BrokerHandler | None = None
        self._writer: BatchWriter[ArchivedMessage] = BatchWriter(
            store.write_messages, interval=flush_interval
        )

    async def start(self, handler: BrokerHandler) -> None:
        self._handler = handler

    async def close(self) -> None:
        await self._writer.close()

    async def subscribe(self, channel: str) -> None:
        return None

    async def unsubscribe(self, channel: str) -> None:
        return None

    async def ready(self) -> bool:
        return True

    # -- channel logs --------------------------------------------------------
    async def _log(self, channel: str) -> ChannelLog:
        log = self._logs.get(channel)
        if log is not None:
            return log
        pending = self._loading.get(channel)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[ChannelLog] = asyncio.get_running_loop().create_future()
        self._loading[channel] = fut
        try:
            log = await self._load(channel)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()
            raise
        finally:
            del self._loading[channel]
        self._logs[channel] = log
        fut.set_result(log)
        return log

    async def _load(self, channel: str) -> ChannelLog:
        min_ts = self._clock() - self._ttl_ms
        snap = await self._store.load_channel(channel, self._size, min_ts)
        if snap is None:
            return ChannelLog(self._store.default_epoch, 0, self._size)
        log = ChannelLog(snap.epoch, snap.top, self._size)
        for m in snap.recent:
            pub = Publication(
                channel, m.offset, snap.epoch, m.ts, m.from_, JSON.decode(m.data_json)
            )
            log.append(pub, m.idem)
        return log

    # -- publishing ----------------------------------------------------------
    async def publish(
        self, channel: str, data: Any, data_json: bytes, from_: str | None, idem: str | None
    ) -> PublishResult:
        log = await self._log(channel)
        if idem is not None:
            seen = log.seen(idem)
            if seen is not None:
                # Archive the earlier publish again (rows already held are ignored): it
                # may have been answered 108 because its write failed.
                prior = next((p for p in log.window() if p.offset == seen), None)
                if prior is None:
                    return PublishResult(seen, log.epoch, duplicate=True)
                again = ArchivedMessage(
                    channel, log.epoch, seen, prior.ts, prior.from_, JSON.encode(prior.data), idem
                )
                return PublishResult(
                    seen, log.epoch, duplicate=True, committed=self._writer.submit(again)
                )
        ts = self._clock()
        log.top += 1
        pub = Publication(channel, log.top, log.epoch, ts, from_, data)
        log.append(pub, idem)
        if self._handler is not None:
            self._handler.on_publication(pub)
        committed = self._writer.submit(
            ArchivedMessage(channel, log.epoch, pub.offset, ts, from_, data_json, idem)
        )
        return PublishResult(pub.offset, log.epoch, committed=committed)

    async def publish_control(self, channel: str, push: dict[str, Any]) -> None:
        if self._handler is not None:
            self._handler.on_control(channel, push)

    # -- reading -------------------------------------------------------------
    async def position(self, channel: str) -> Position:
        log = await self._log(channel)
        return Position(log.top, log.epoch)

    async def recover(self, channel: str, since: Since) -> Recovery:
        log = await self._log(channel)
        log.trim(self._clock() - self._ttl_ms)
        pos = Position(log.top, log.epoch)
        if since.epoch != log.epoch or since.offset > log.top:
            return Recovery(pos, False, [])
        if since.offset + 1 < log.first_offset():
            return Recovery(pos, False, [])
        pubs = [p for p in log.window() if p.offset > since.offset]
        return Recovery(pos, True, pubs)

    async def history(
        self, channel: str, since: Since | None, before: int | None, limit: int
    ) -> HistoryPage:
        log = await self._log(channel)
        pos = Position(log.top, log.epoch)
        if since is not None:
            return HistoryPage(pos, await self._after(channel, log, since, limit))
        bound = log.top + 1 if before is None else before
        return HistoryPage(pos, await self._before(channel, log, bound, limit))

    async def _after(
        self, channel: str, log: ChannelLog, since: Since, limit: int
    ) -> list[Publication]:
        if since.epoch != log.epoch or since.offset > log.top:
            raise HubError(Code.UNRECOVERABLE, "position is not in this epoch of the channel")
        out: list[Publication] = []
        first_in_ring = log.first_offset()
        if since.offset + 1 < first_in_ring:
            rows = await self._store.read_messages(
                channel, after=since.offset, before=None, limit=limit
            )
            rows = [r for r in rows if r.offset < first_in_ring and r.epoch == log.epoch]
            if since.offset < log.top and (not rows or rows[0].offset != since.offset + 1):
                raise HubError(Code.UNRECOVERABLE, "history no longer holds that position")
            out = [self._from_archive(r) for r in rows]
        for p in log.window():
            if len(out) >= limit:
                break
            if p.offset > since.offset and (not out or p.offset > out[-1].offset):
                out.append(p)
        return out

    async def _before(
        self, channel: str, log: ChannelLog, bound: int, limit: int
    ) -> list[Publication]:
        recent = [p for p in log.window() if p.offset < bound][-limit:]
        missing = limit - len(recent)
        low = recent[0].offset if recent else min(bound, log.first_offset())
        if missing > 0 and low > 1:
            rows = await self._store.read_messages(channel, after=None, before=low, limit=missing)
            return [self._from_archive(r) for r in rows] + recent
        return recent

    @staticmethod
    def _from_archive(m: ArchivedMessage) -> Publication:
        return Publication(m.channel, m.offset, m.epoch, m.ts, m.from_, JSON.decode(m.data_json))


class MemoryPresence:
    """Implements :class:`hub.core.interfaces.Presence` for a single process.

    ``channel -> member -> client id`` (a set only for members with several clients)."""

    def __init__(self) -> None:
        self._channels: dict[str, dict[str, str | set[str]]] = {}

    async def add(self, channel: str, member: str, client: str) -> bool:
        members = self._channels.get(channel)
        if members is None:
            members = self._channels[channel] = {}
        clients = members.get(member)
        if clients is None:
            members[member] = client
            return True
        if isinstance(clients, str):
            if clients != client:
                members[member] = {clients, client}
        else:
            clients.add(client)
        return False

    async def remove(self, channel: str, member: str, client: str) -> bool:
        members = self._channels.get(channel)
        clients = None if members is None else members.get(member)
        if members is None or clients is None:
            return False
        if isinstance(clients, str):
            if clients != client:
                return False
            del members[member]
        else:
            clients.discard(client)
            if len(clients) == 1:
                members[member] = next(iter(clients))
            return False
        if not members:
            del self._channels[channel]
        return True

    async def get(self, channel: str) -> dict[str, int]:
        return {
            m: 1 if isinstance(c, str) else len(c)
            for m, c in self._channels.get(channel, {}).items()
        }

    async def close(self) -> None:
        self._channels.clear()
