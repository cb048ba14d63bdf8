"""The Redis broker: offsets, the recovery window and fan-out across processes.

Publishing is one Lua script (:mod:`hub.brokers.redis.scripts`); the payload it
publishes reaches every process subscribed to the channel on its one pub/sub
connection, and is handed to the node in offset order. A jump in offsets (after
a reconnect) is filled from the stream before later publications are handed on.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import msgpack
from redis.exceptions import RedisError

from hub.brokers.redis.connector import Connector
from hub.brokers.redis.links import Links
from hub.brokers.redis.scripts import INIT, PUBLISH, RANGE, Keys
from hub.core.interfaces import ArchivedMessage, BrokerHandler, Store
from hub.core.types import HistoryPage, Position, Publication, PublishResult, Recovery
from hub.protocol.codec import JSON
from hub.protocol.errors import Code, HubError
from hub.protocol.requests import Since
from hub.store.batch import BatchWriter

__all__ = ["RedisBroker"]

PROBE_TIMEOUT = 1.0  # seconds a self-check may take (at least its interval)
LIVE_WAIT = 3.0  # seconds a subscribe waits for a reconnecting pub/sub link
RETRY_TOKEN_TTL_MS = 60_000  # a publish's own token outlives every retry of it

log = logging.getLogger("hub.redis")

UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError, TimeoutError)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _unavailable(what: str, exc: BaseException) -> HubError:
    log.warning("redis unavailable during %s: %r", what, exc)
    return HubError(Code.UNAVAILABLE, "broker unavailable, retry")


class _Order:
    """Per-channel delivery state: the last offset handed on and a gap being filled."""

    __slots__ = ("epoch", "filling", "last")

    def __init__(self) -> None:
        self.epoch: str | None = None
        self.last = 0
        self.filling: list[Publication] | None = None


class RedisBroker:
    """Implements :class:`hub.core.interfaces.Broker` on Redis (see ``docs/redis.md``)."""

    def __init__(
        self,
        connector: Connector,
        store: Store,
        *,
        history_size: int = 1000,
        history_ttl: float = 86400.0,
        flush_interval: float = 0.0,
        probe_interval: float = 5.0,
        prefix: str = "hub",
        clock: Callable[[], int] = _now_ms,
        start_wait: float = 3.0,
    ) -> None:
        self.connector = connector
        connector.retain()
        self._store = store
        self._size = history_size
        self._ttl_ms = int(history_ttl * 1000)
        self._clock = clock
        self._prefix = prefix
        self._probe_interval = probe_interval
        self._start_wait = start_wait
        client = connector.client
        self._publish = client.register_script(PUBLISH)
        self._init = client.register_script(INIT)
        self._range = client.register_script(RANGE)
        self._pubcmd = "SPUBLISH" if connector.sharded else "PUBLISH"
        self._handler: BrokerHandler | None = None
        self._links = Links(connector, self._on_message, self._on_resubscribed)
        self._names: dict[bytes, str] = {}
        self._keys: dict[str, Keys] = {}
        self._order: dict[str, _Order] = {}
        self._writer: BatchWriter[ArchivedMessage] = BatchWriter(
            store.write_messages, interval=flush_interval
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._probe_name = f"{prefix}:probe:{{{secrets.token_hex(6)}}}".encode()
        self._probe_waiter: tuple[bytes, asyncio.Future[None]] | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._probe_ok = True
        self._probe_lock = asyncio.Lock()
        self._closed = False
        # counters for /metrics
        self.probe_failures = 0
        self.gaps_filled = 0
        self.gaps_lost = 0

    # -- lifecycle -------------------------------------------------------------
    async def start(self, handler: BrokerHandler) -> None:
        self._handler = handler
        await self.connector.start()
        self._links.start()
        await self._links.wait_up(self._start_wait)
        await self._links.acquire(self._probe_name)
        if self._probe_interval > 0:
            self._probe_task = asyncio.get_running_loop().create_task(self._probe_loop())

    async def close(self) -> None:
        self._closed = True
        if self._probe_task is not None:
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
        await self._writer.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._links.close()
        await self.connector.release()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def reconnects(self) -> int:
        return self._links.reconnects

    def metrics(self) -> dict[str, float]:
        """Counters for /metrics (``hub_broker_<name>``)."""
        return {
            "probe_failures": self.probe_failures,
            "reconnects": self.reconnects,
            "gaps_filled": self.gaps_filled,
            "gaps_lost": self.gaps_lost,
            "link_up": 1.0 if self.link_up else 0.0,
        }

    @property
    def link_up(self) -> bool:
        return self._links.up

    async def ready(self) -> bool:
        if not self._links.up:
            return False
        if not self._probe_ok:
            # The alarm stays until a self-check passes: run one now instead of
            # answering "not ready" until the loop's next turn (up to an interval
            # after Redis came back, on every process at once).
            if not await self.probe(timeout=PROBE_TIMEOUT):
                return False
            self._probe_ok = True
        try:
            await self.connector.client.ping()
        except UNAVAILABLE_ERRORS:
            return False
        return True

    # -- subscriptions ---------------------------------------------------------
    def _k(self, channel: str) -> Keys:
        keys = self._keys.get(channel)
        if keys is None:
            keys = Keys(self._prefix, channel)
            if len(self._keys) > 10000:
                self._keys.clear()
            self._keys[channel] = keys
        return keys

    async def subscribe(self, channel: str) -> None:
        # Never raises for an unreachable Redis: the link subscribes it once back,
        # and reading the position then answers 108.
        name = self._k(channel).pubsub
        self._names[name] = channel
        if channel not in self._order:
            self._order[channel] = _Order()
        await self._links.acquire(name)

    async def unsubscribe(self, channel: str) -> None:
        name = self._k(channel).pubsub
        if self._links.release(name):
            self._names.pop(name, None)
            self._order.pop(channel, None)

    # -- incoming --------------------------------------------------------------------
    def _on_message(self, name: bytes, payload: bytes) -> None:
        channel = self._names.get(name)
        if channel is None:
            waiter = self._probe_waiter
            if (
                name == self._probe_name
                and waiter is not None
                and payload == waiter[0]
                and not waiter[1].done()
            ):
                waiter[1].set_result(None)
            return
        try:
            obj = msgpack.unpackb(payload)
        except Exception:
            log.error("undecodable payload on %s", channel)
            return
        if isinstance(obj, dict):
            if self._handler is not None:
                self._handler.on_control(channel, obj)
            return
        pub = Publication(channel, obj[0], obj[1], obj[2], obj[3], obj[4])
        order = self._order.get(channel)
        if order is not None:
            self._step(order, pub)

    def _step(self, order: _Order, pub: Publication) -> None:
        if order.filling is not None:
            order.filling.append(pub)
            return
        if order.epoch != pub.epoch or pub.offset == order.last + 1:
            order.epoch, order.last = pub.epoch, pub.offset
            self._emit(pub)
        elif pub.offset > order.last + 1:
            order.filling = [pub]
            self._spawn(self._fill(pub.channel, order))
        # else: already handed on (an echo after a gap fill)

    def _emit(self, pub: Publication) -> None:
        if self._handler is not None:
            self._handler.on_publication(pub)

    async def _fill(self, channel: str, order: _Order) -> None:
        """Hand on the publications missing before ``order.filling[0]``, then the rest."""
        while order.filling:
            buf = order.filling
            first = buf[0]
            missing: list[Publication] = []
            try:
                epoch, _, missing = await self._read(
                    channel, f"{order.last + 1}-0", f"{first.offset - 1}-0", self._size, False
                )
                if epoch != order.epoch:
                    missing = []
            except UNAVAILABLE_ERRORS as exc:
                log.warning("could not fill a gap in %s: %r", channel, exc)
            if self._order.get(channel) is not order:
                return
            for p in missing:
                if p.offset == order.last + 1:
                    order.last = p.offset
                    self._emit(p)
            if order.last + 1 == first.offset:
                self.gaps_filled += 1
            else:
                self.gaps_lost += 1
                log.warning("%s: offsets %d..%d lost", channel, order.last + 1, first.offset - 1)
                order.last = first.offset - 1
            order.filling = None
            for i, p in enumerate(buf):
                self._step(order, p)
                if order.filling is not None:
                    order.filling.extend(buf[i + 1 :])
                    break

    def _on_resubscribed(self) -> None:
        if self._handler is not None:
            self._handler.on_resubscribed()

    # -- publishing -----------------------------------------------------------------
    async def publish(
        self, channel: str, data: Any, data_json: bytes, from_: str | None, idem: str | None
    ) -> PublishResult:
        ts = self._clock()
        tail = msgpack.packb(ts) + msgpack.packb(from_) + msgpack.packb(data)
        keys = self._k(channel)
        # Every publish carries a token of its own: redis-py retries the script on a
        # fresh connection after a ConnectionError/TimeoutError (the first attempt
        # may have run, its reply lost), and the script then answers "already
        # published by this call" instead of publishing twice. Without a client
        # key, the token's key lives only as long as a retry could come.
        token = secrets.token_hex(8)
        if idem is None:
            key, key_ttl = keys.retry_prefix + token, RETRY_TOKEN_TTL_MS
        else:
            key, key_ttl = keys.idem_prefix + idem, self._ttl_ms
        args: list[Any] = [
            self._size,
            self._ttl_ms,
            "1",
            tail,
            keys.pubsub,
            self._pubcmd,
            token,
            key_ttl,
        ]
        klist = [keys.meta, keys.stream, key]
        try:
            res = await self._publish(keys=klist, args=args)
            if res[0] == -1:
                await self._create(channel)
                res = await self._publish(keys=klist, args=args)
        except UNAVAILABLE_ERRORS as exc:
            raise _unavailable("publish", exc) from None
        offset, epoch = int(res[0]), res[1].decode()
        if res[2] == 1:
            # The earlier publish may have been answered 108 because its archive write
            # failed (the store was down): archive it now (the write ignores rows it
            # holds), so the acknowledgement of this retry means "durable" too.
            if len(res) < 4:
                return PublishResult(offset, epoch, duplicate=True)
            o, _, ts0, from0, data0 = msgpack.unpackb(res[3])
            again = ArchivedMessage(channel, epoch, o, ts0, from0, JSON.encode(data0), idem)
            return PublishResult(
                offset, epoch, duplicate=True, committed=self._writer.submit(again)
            )
        committed = self._writer.submit(
            ArchivedMessage(channel, epoch, offset, ts, from_, data_json, idem)
        )
        return PublishResult(offset, epoch, committed=committed)

    async def _create(self, channel: str) -> None:
        """Give a channel without meta (new, or lost by Redis) a new epoch. Offsets go
        on from the archive's top, so archived offsets are never reused."""
        snap = await self._store.load_channel(channel, 0, 0)
        floor = 0 if snap is None else snap.top
        keys = self._k(channel)
        await self._init(keys=[keys.meta, keys.stream], args=[str(floor), secrets.token_hex(4)])

    async def publish_control(self, channel: str, push: dict[str, Any]) -> None:
        try:
            await self.connector.client.execute_command(
                self._pubcmd, self._k(channel).pubsub, msgpack.packb(push)
            )
        except UNAVAILABLE_ERRORS as exc:
            log.warning("control push to %s not sent: %r", channel, exc)

    # -- reading ------------------------------------------------------------------------
    async def _read(
        self, channel: str, low: str, high: str, count: int, reverse: bool
    ) -> tuple[str, int, list[Publication]]:
        """The channel's epoch, top and stream entries in [low, high], atomically."""
        keys = self._k(channel)
        args: list[str | int] = [low, high, count, "1" if reverse else "0"]
        res = await self._range(keys=[keys.meta, keys.stream], args=args)
        if res[0] == -1:
            await self._create(channel)
            res = await self._range(keys=[keys.meta, keys.stream], args=args)
        epoch = res[0].decode()
        pubs = []
        for payload in res[2:]:
            o, e, ts, f, d = msgpack.unpackb(payload)
            pubs.append(Publication(channel, o, e, ts, f, d))
        if reverse:
            pubs.reverse()
        return epoch, int(res[1]), pubs

    async def _read_or_108(
        self, channel: str, low: str, high: str, count: int, reverse: bool
    ) -> tuple[str, int, list[Publication]]:
        try:
            return await self._read(channel, low, high, count, reverse)
        except UNAVAILABLE_ERRORS as exc:
            raise _unavailable("read", exc) from None

    def _window(self, top: int, pubs: list[Publication]) -> list[Publication]:
        """The entries of ``pubs`` inside the recovery window (last size, not older than ttl)."""
        low = top - self._size + 1
        min_ts = self._clock() - self._ttl_ms
        return [p for p in pubs if p.offset >= low and p.ts >= min_ts]

    async def _check_live(self, channel: str) -> None:
        """A position read for a subscriber needs its subscription confirmed first,
        else publications between the read and the confirmation would be missed.
        A link that is reconnecting gets ``LIVE_WAIT`` seconds to confirm it."""
        name = self._k(channel).pubsub
        links = self._links
        if (
            name in links.desired
            and not links.live(name)
            and not await links.wait_live(name, LIVE_WAIT)
        ):
            raise HubError(Code.UNAVAILABLE, "broker subscription not active, retry")

    async def position(self, channel: str) -> Position:
        await self._check_live(channel)
        epoch, top, _ = await self._read_or_108(channel, "-", "+", 0, False)
        return Position(top, epoch)

    async def recover(self, channel: str, since: Since) -> Recovery:
        await self._check_live(channel)
        epoch, top, pubs = await self._read_or_108(
            channel, f"{since.offset + 1}-0", "+", self._size, False
        )
        pos = Position(top, epoch)
        if since.epoch != epoch or since.offset > top:
            return Recovery(pos, False, [])
        if since.offset == top:
            return Recovery(pos, True, [])
        pubs = self._window(top, pubs)
        if len(pubs) != top - since.offset or pubs[0].offset != since.offset + 1:
            return Recovery(pos, False, [])
        return Recovery(pos, True, pubs)

    async def history(
        self, channel: str, since: Since | None, before: int | None, limit: int
    ) -> HistoryPage:
        if since is not None:
            epoch, top, pubs = await self._read_or_108(
                channel, f"{since.offset + 1}-0", "+", limit, False
            )
            pos = Position(top, epoch)
            return HistoryPage(pos, await self._after(channel, pos, since, pubs, limit))
        epoch, top, _ = await self._read_or_108(channel, "-", "+", 0, False)
        bound = top + 1 if before is None else min(before, top + 1)
        recent: list[Publication] = []
        if bound > 1 and limit > 0:
            _, _, pubs = await self._read_or_108(channel, "-", f"{bound - 1}-0", limit, True)
            recent = self._contiguous_tail(self._window(top, pubs), bound)
        pos = Position(top, epoch)
        missing = limit - len(recent)
        low = recent[0].offset if recent else bound
        if missing > 0 and low > 1:
            rows = await self._store.read_messages(channel, after=None, before=low, limit=missing)
            return HistoryPage(pos, [self._from_archive(r, epoch) for r in rows] + recent)
        return HistoryPage(pos, recent)

    @staticmethod
    def _contiguous_tail(pubs: list[Publication], bound: int) -> list[Publication]:
        """The newest run of ``pubs`` that ends just below ``bound`` with no gap."""
        out: list[Publication] = []
        expect = bound - 1
        for p in reversed(pubs):
            if p.offset != expect:
                break
            out.append(p)
            expect -= 1
        out.reverse()
        return out

    async def _after(
        self, channel: str, pos: Position, since: Since, pubs: list[Publication], limit: int
    ) -> list[Publication]:
        if since.epoch != pos.epoch or since.offset > pos.offset:
            raise HubError(Code.UNRECOVERABLE, "position is not in this epoch of the channel")
        if since.offset == pos.offset or limit <= 0:
            return []
        window = self._window(pos.offset, pubs)
        if window and window[0].offset == since.offset + 1:
            return window[:limit]
        first_in_window = window[0].offset if window else pos.offset + 1
        rows = await self._store.read_messages(
            channel, after=since.offset, before=None, limit=limit
        )
        out = [self._from_archive(r, pos.epoch) for r in rows if r.offset < first_in_window]
        if not out or out[0].offset != since.offset + 1:
            raise HubError(Code.UNRECOVERABLE, "history no longer holds that position")
        for p in window:
            if len(out) >= limit or p.offset != out[-1].offset + 1:
                break
            out.append(p)
        return out

    @staticmethod
    def _from_archive(m: ArchivedMessage, epoch: str) -> Publication:
        # The archive keeps one epoch per channel; offsets are never reused in it
        # (see _create), so its rows belong to the channel's current numbering.
        return Publication(m.channel, m.offset, epoch, m.ts, m.from_, JSON.decode(m.data_json))

    # -- self-check -----------------------------------------------------------------------
    async def _probe_loop(self) -> None:
        """Alarm (``ready()`` False, link dropped and re-made) after two self-checks in a
        row fail; one late answer on a busy machine is not a deaf link."""
        interval = self._probe_interval
        failed_in_row = 0
        while not self._closed:
            if await self.probe(timeout=max(interval, PROBE_TIMEOUT)):
                failed_in_row = 0
                self._probe_ok = True
            else:
                self.probe_failures += 1
                failed_in_row += 1
                if failed_in_row >= 2:
                    self._probe_ok = False
                    if self._links.up:
                        self._links.abort()  # published, never came back: a deaf link
            await asyncio.sleep(interval)

    async def probe(self, timeout: float) -> bool:
        """Publish to this process's probe channel and wait for it on the pub/sub link."""
        async with self._probe_lock:  # one waiter at a time (the loop, /readyz)
            nonce = secrets.token_bytes(8)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._probe_waiter = (nonce, fut)
            try:
                if not self._links.up:
                    return False
                await self.connector.client.execute_command(self._pubcmd, self._probe_name, nonce)
                await asyncio.wait_for(fut, timeout)
            except UNAVAILABLE_ERRORS as exc:
                log.warning("redis self-check failed: %r", exc)
                return False
            finally:
                self._probe_waiter = None
            return True
