"""A Redis restart under a ``hub serve`` subprocess: no false failures once Redis is back.

Redis is killed and started again on the same port (every key lost). From the
moment it answers PING, every publish (server API and WebSocket), subscribe,
presence and history request must succeed: the pooled connections that still
point at the old server are replaced by redis-py's health check and retry, not
reported to the client as 503/108. The subscriber sees the new epoch.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.brokers.redis import Connector, RedisBroker, parse_url
from hub.core.types import Publication
from hub.store.sqlite import SqliteStore
from tests.hub import redis_support
from tests.hub.redis_support import RedisServer
from tests.support.hubs import HubProcess, wait_until
from tests.support.ws import WsClient, open_ws

redis_server = redis_support.redis_server  # fixture
pytestmark = redis_support.needs_redis

ROOM = "chat:room"
GRANT = [{"channel": ROOM, "publish": True, "presence": True}]


async def api(
    s: aiohttp.ClientSession, h: HubProcess, method: str, path: str, json: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {h.api_key}"}
    async with s.request(method, h.http_url + path, json=json, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def redis_answers(server: RedisServer) -> bool:
    return await asyncio.to_thread(server.command, "PING") == b"+PONG\r\n"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
async def test_no_false_failures_after_redis_restart(
    tmp_path: Path, redis_server: RedisServer, sig: signal.Signals
) -> None:
    # The self-check runs every 30 s: it cannot be what heals the pool here.
    h = HubProcess(
        tmp_path / "data",
        env={
            "HUB_REDIS_URL": redis_server.url + "?probe_interval=30",
            "HUB_WORKERS": "1",
            "HUB_RATE_LIMIT": "10000",
            "HUB_RATE_BURST": "10000",
        },
    )
    h.start()
    try:
        async with aiohttp.ClientSession() as s:
            sub = await open_ws(h.ws_url, h.token("alice", channels=GRANT))
            old = (await sub.ok("subscribe", channel=ROOM))["epoch"]
            pub = await open_ws(h.ws_url, h.token("bob", channels=GRANT))
            # Warm the pool: many connections in use at once, then idle in the pool.
            path = "/api/publish"
            warm = await asyncio.gather(
                *(api(s, h, "POST", path, {"channel": ROOM, "data": n}) for n in range(40))
            )
            assert all(st == 200 for st, _ in warm), warm
            await sub.messages(ROOM, 40)

            proc = redis_server.proc
            assert proc is not None
            proc.send_signal(sig)
            proc.wait(10)
            redis_server.proc = None
            # An outage of a few seconds: the pub/sub link's reconnect backoff grows.
            await wait_until(lambda: _ready(s, h, 503), timeout=10, what="readyz 503")
            await asyncio.sleep(3)
            redis_server.start()  # same port, every key lost
            await wait_until(lambda: redis_answers(redis_server), what="redis answers PING")

            failures: list[Any] = []
            early = await open_ws(h.ws_url, h.token("dave", channels=GRANT))
            r = await early.call("subscribe", channel=ROOM)  # the link may still be down
            if not r.get("ok"):
                failures.append(r)
            offsets: list[int] = []
            n = 0
            deadline = time.monotonic() + 2.0
            while (time.monotonic() < deadline and n < 400) or n < 60:
                batch = await asyncio.gather(
                    *(
                        api(s, h, "POST", "/api/publish", {"channel": ROOM, "data": f"a{n + i}"})
                        for i in range(10)
                    ),
                    pub.call("publish", channel=ROOM, data=f"w{n}"),
                )
                n += 10
                for st, body in batch[:-1]:  # type: ignore[misc]
                    if st == 200:
                        offsets.append(body["offset"])
                    else:
                        failures.append((st, body))
                ws_reply: dict[str, Any] = batch[-1]  # type: ignore[assignment]
                if ws_reply.get("ok"):
                    offsets.append(ws_reply["offset"])
                else:
                    failures.append(ws_reply)
            presence = await pub.call("presence", channel=ROOM)
            if not presence.get("ok"):
                failures.append(presence)
            st, hist = await api(s, h, "GET", f"/api/channels/{ROOM}/history?limit=5")
            if st != 200:
                failures.append((st, hist))
            fresh = await open_ws(h.ws_url, h.token("carol", channels=GRANT))
            r = await fresh.call("subscribe", channel=ROOM, since={"offset": 40, "epoch": old})
            if not r.get("ok"):
                failures.append(r)
            kinds = Counter(repr(f) for f in failures)
            assert failures == [], f"{len(failures)} false failures after the restart: {kinds}"
            assert r["recovered"] is False and r["epoch"] != old

            # gapless, each once; the new epoch goes on from the archive's top (40)
            assert sorted(offsets) == list(range(41, 41 + len(offsets)))
            # the subscriber was re-subscribed: it gets the new epoch's messages
            last = await api(s, h, "POST", "/api/publish", {"channel": ROOM, "data": "last"})
            assert last[0] == 200
            got = [m for m in await _until_message(sub, "last") if m.get("push") == "message"]
            new = [m["offset"] for m in got if m["epoch"] == last[1]["epoch"]]
            assert new == sorted(set(new)) and new[-1] == last[1]["offset"]  # in order, once
            assert "Traceback" not in h.log()
    finally:
        h.stop()


async def _ready(s: aiohttp.ClientSession, h: HubProcess, want: int) -> bool:
    async with s.get(h.http_url + "/readyz") as r:
        return r.status == want


async def _until_message(c: WsClient, data: str) -> list[dict[str, Any]]:
    """Every push up to the message carrying ``data``."""
    got: list[dict[str, Any]] = []

    async def seen() -> bool:
        try:
            got.append(await c.push(None, timeout=0.2))
        except TimeoutError:
            return False
        return got[-1].get("push") == "message" and got[-1]["data"] == data

    try:
        await wait_until(seen, timeout=15, what=f"message {data!r}")
    except AssertionError:
        raise AssertionError(f"no message {data!r}; got {got[:3]}...{got[-3:]}") from None
    return got


class ReplyDropper:
    """A TCP proxy in front of Redis that, once armed, forwards the next EVALSHA
    to Redis and then closes the client's connection instead of passing the reply
    on: the command ran, the hub never hears back (a reply lost on the wire)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.armed = False
        self.dropped = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream)
        drop = asyncio.Event()

        async def up() -> None:
            while data := await cr.read(65536):
                if self.armed and b"EVALSHA" in data.upper():
                    self.armed = False
                    drop.set()
                uw.write(data)
                await uw.drain()
            uw.close()

        async def down() -> None:
            while data := await ur.read(65536):
                if drop.is_set():
                    self.dropped += 1
                    cw.transport.abort()  # the reply is lost
                    return
                cw.write(data)
                await cw.drain()
            cw.close()

        tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        uw.close()
        cw.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.mark.parametrize("idem", [None, "client-key-1"])
async def test_publish_whose_reply_was_lost_is_retried_once(
    tmp_path: Path, redis_server: RedisServer, idem: str | None
) -> None:
    """redis-py retries the publish script on a fresh connection; the publish's own
    token makes the retry answer the first attempt's offset instead of publishing
    again (with a client key, it is not reported as a duplicate either)."""
    store = SqliteStore(str(tmp_path / "hub.db"))
    await store.open()
    proxy = ReplyDropper(redis_server.port)
    port = await proxy.start()
    watcher = RedisBroker(Connector(parse_url(redis_server.url)), store, probe_interval=30)
    broker = RedisBroker(
        Connector(parse_url(f"redis://127.0.0.1:{port}/0")), store, probe_interval=30
    )
    got: list[Publication] = []

    class Rec:
        def on_publication(self, pub: Publication) -> None:
            got.append(pub)

        def on_control(self, channel: str, push: dict[str, Any]) -> None:
            return None

        def on_resubscribed(self) -> None:
            return None

    try:
        await watcher.start(Rec())
        await watcher.subscribe(ROOM)
        await broker.start(Rec())
        first = await broker.publish(ROOM, "a", b'"a"', None, None)  # creates the channel
        proxy.armed = True
        r = await broker.publish(ROOM, "b", b'"b"', "m1", idem)
        assert proxy.dropped == 1  # the first attempt ran and its reply was lost
        assert r.offset == first.offset + 1 and r.duplicate is False
        assert r.committed is not None
        await r.committed  # archived once
        await wait_until(lambda: [p.data for p in got if p.channel == ROOM] == ["a", "b"])
        top = int(redis_server.command("HGET", f"hub:{{{ROOM}}}:m", "top").split(b"\r\n")[1])
        assert top == r.offset  # published once
        rows = await store.read_messages(ROOM, after=0, before=None, limit=10)
        assert [m.offset for m in rows] == [first.offset, r.offset]
        again = await broker.publish(ROOM, "b", b'"b"', "m1", idem)
        assert again.duplicate is (idem is not None)
    finally:
        await broker.close()
        await watcher.close()
        await proxy.close()
        await store.close()


async def _metric(s: aiohttp.ClientSession, h: HubProcess, name: str) -> float:
    async with s.get(h.http_url + "/metrics") as r:
        for line in (await r.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


async def test_readyz_is_ready_as_soon_as_redis_is_back(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The self-check's alarm (two failed checks in a row) must not keep /readyz at
    503 until the check's next turn once Redis answers and the link is back: every
    process sharing that Redis would be out of the load balancer meanwhile."""
    h = HubProcess(
        tmp_path / "data",
        env={"HUB_REDIS_URL": redis_server.url + "?probe_interval=4", "HUB_WORKERS": "1"},
    )
    h.start()
    try:
        async with aiohttp.ClientSession() as s:
            redis_server.stop()
            await wait_until(lambda: _alarm(s, h), timeout=20, interval=0.2, what="the alarm")
            redis_server.start()
            reconnects = await _metric(s, h, "hub_broker_reconnects")

            async def link_back() -> bool:
                return await _metric(s, h, "hub_broker_reconnects") > reconnects

            await wait_until(link_back, timeout=10, what="the link re-subscribed")
            async with s.get(h.http_url + "/readyz") as r:
                body = await r.json()
                assert r.status == 200, body
    finally:
        h.stop()


async def _alarm(s: aiohttp.ClientSession, h: HubProcess) -> bool:
    return await _metric(s, h, "hub_broker_probe_failures") >= 2
