"""Several hub processes behaving as one through Redis (issue 3).

In-process hubs on free ports share one ``redis-server`` (each with its own
SQLite directory); ``hub serve`` subprocesses are used where a process must be
SIGKILLed. Intervals are shortened through the Redis URL's query.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import websockets

from hub.brokers.redis import Connector, RedisBroker, parse_url
from hub.core.types import Publication
from hub.protocol.requests import Since
from hub.store.sqlite import SqliteStore
from tests.hub import redis_support
from tests.hub.redis_support import RedisClusterServers, RedisServer
from tests.support.hubs import HubProcess, InProcessHub, running_hub, wait_until

redis_server = redis_support.redis_server  # fixtures
redis_cluster = redis_support.redis_cluster
CH = "chat:room"
FAST = "presence_ttl=0.9&probe_interval=0.2"


def fast(url: str) -> str:
    return url + ("&" if "?" in url else "?") + FAST


class Recorder:
    def on_publication(self, pub: Publication) -> None:
        return None

    def on_control(self, channel: str, push: dict[str, Any]) -> None:
        return None

    def on_resubscribed(self) -> None:
        return None


class Conn:
    """A raw WebSocket client: requests by id, pushes collected in order."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.pushes: list[dict[str, Any]] = []
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._id = 0
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                frame = json.loads(raw)
                fut = self._replies.pop(frame.get("id", 0), None)
                if fut is not None:
                    fut.set_result(frame)
                else:
                    self.pushes.append(frame)
        for fut in self._replies.values():
            fut.cancel()

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        self._id += 1
        fut = asyncio.get_running_loop().create_future()
        self._replies[self._id] = fut
        await self.ws.send(json.dumps({"id": self._id, "op": op, **fields}))
        return await asyncio.wait_for(fut, 10)

    def messages(self, channel: str = CH) -> list[dict[str, Any]]:
        return [p for p in self.pushes if p.get("push") == "message" and p["channel"] == channel]

    def offsets(self, channel: str = CH) -> list[int]:
        return [p["offset"] for p in self.messages(channel)]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [p for p in self.pushes if p.get("push") == kind]

    async def close(self) -> None:
        await self.ws.close()
        await self._task


@contextlib.asynccontextmanager
async def connect(url: str, token: str) -> AsyncIterator[Conn]:
    async with websockets.connect(url) as ws:
        c = Conn(ws)
        reply = await c.request("connect", token=token)
        assert reply["ok"], reply
        try:
            yield c
        finally:
            await c.close()


def grant(hub: InProcessHub | HubProcess, member: str, *channels: str) -> str:
    return hub.token(member, channels=[{"channel": ch, "publish": True} for ch in channels])


@contextlib.asynccontextmanager
async def hubs(tmp_path: Path, url: str, n: int = 2) -> AsyncIterator[list[InProcessHub]]:
    async with contextlib.AsyncExitStack() as stack:
        out = []
        for i in range(n):
            h = await stack.enter_async_context(running_hub(tmp_path / f"hub{i}", redis_url=url))
            out.append(h)
        yield out


async def api_publish(h: InProcessHub, data: Any, channel: str = CH) -> tuple[int, Any]:
    return await h.api("POST", "/api/publish", {"channel": channel, "data": data})


async def test_fanout_and_gapless_offsets_alternating_processes(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        hubs(tmp_path, fast(redis_server.url), 3) as (h1, h2, h3),
        connect(h1.ws_url, grant(h1, "a", CH)) as a,
        connect(h2.ws_url, grant(h2, "b", CH)) as b,
    ):
        if True:
            assert (await a.request("subscribe", channel=CH))["ok"]
            assert (await b.request("subscribe", channel=CH))["ok"]
            offsets = []
            for i in range(30):
                status, body = await api_publish((h1, h2, h3)[i % 3], {"i": i})
                assert status == 200, body
                offsets.append(body["offset"])
            for i in range(10):  # clients publish too, on both processes
                r = await (a if i % 2 else b).request("publish", channel=CH, data={"c": i})
                offsets.append(r["offset"])
            assert offsets == list(range(1, 41))
            want = list(range(1, 41))
            await wait_until(lambda: a.offsets() == want and b.offsets() == want, what="fan-out")
            assert [m["data"] for m in a.messages()][:3] == [{"i": 0}, {"i": 1}, {"i": 2}]
            assert len({m["epoch"] for m in a.messages()}) == 1


async def test_presence_and_join_leave_across_processes(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        hubs(tmp_path, fast(redis_server.url)) as (h1, h2),
        connect(h1.ws_url, grant(h1, "a", CH)) as a,
    ):
        if True:
            await a.request("subscribe", channel=CH)
            async with connect(h2.ws_url, grant(h2, "b", CH)) as b:
                await b.request("subscribe", channel=CH)
                await wait_until(
                    lambda: {"push": "join", "channel": CH, "member": "b"} in a.pushes,
                    what="join of b on the other process",
                )
                for h in (h1, h2):
                    status, body = await h.api("GET", f"/api/channels/{CH}/presence")
                    assert status == 200
                    assert body["members"] == {"a": {"clients": 1}, "b": {"clients": 1}}
                reply = await a.request("presence", channel=CH)
                assert reply["members"] == {"a": {"clients": 1}, "b": {"clients": 1}}
                async with connect(h1.ws_url, grant(h1, "b", CH)) as b2:  # b's second client
                    await b2.request("subscribe", channel=CH)
                    await wait_until(lambda: _count(h2, "b", 2), what="b with two clients")
                assert [j["member"] for j in a.of_kind("join")] == ["a", "b"]  # b2: no new join
            await wait_until(
                lambda: {"push": "leave", "channel": CH, "member": "b"} in a.pushes,
                what="leave of b",
            )
            assert await h2.runtime.presence.get(CH) == {"a": 1}


async def test_client_moves_to_another_process_and_recovers(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with hubs(tmp_path, fast(redis_server.url)) as (h1, h2):
        async with connect(h1.ws_url, grant(h1, "a", CH)) as a:
            epoch = (await a.request("subscribe", channel=CH))["epoch"]
            for i in range(5):
                await api_publish(h2, i)
            await wait_until(lambda: a.offsets() == [1, 2, 3, 4, 5])
        for i in range(5, 9):  # while the client is away
            await api_publish(h1, i)
        async with connect(h2.ws_url, grant(h2, "a", CH)) as a2:
            r = await a2.request("subscribe", channel=CH, since={"offset": 5, "epoch": epoch})
            assert r["recovered"] is True and r["epoch"] == epoch and r["offset"] == 9
            assert [m["offset"] for m in r["messages"]] == [6, 7, 8, 9]
            assert [m["data"] for m in r["messages"]] == [5, 6, 7, 8]
            await api_publish(h1, 9)
            await wait_until(lambda: a2.offsets() == [10])
            h = await a2.request("history", channel=CH, since={"offset": 0, "epoch": epoch})
            assert [m["offset"] for m in h["messages"]] == list(range(1, 11))


async def test_redis_stopped_and_restarted_mid_traffic(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with (
        hubs(tmp_path, fast(redis_server.url)) as (h1, h2),
        connect(h1.ws_url, grant(h1, "a", CH)) as a,
        connect(h2.ws_url, grant(h2, "b", CH)) as b,
    ):
        if True:
            old = (await a.request("subscribe", channel=CH))["epoch"]
            await b.request("subscribe", channel=CH)
            for i in range(5):
                await api_publish((h1, h2)[i % 2], i)
            await wait_until(lambda: a.offsets() == b.offsets() == [1, 2, 3, 4, 5])

            redis_server.stop()
            for h in (h1, h2):
                await wait_until(
                    lambda h=h: _status(h, "/readyz", 503), timeout=5, what="readyz 503"
                )
            status, body = await api_publish(h2, "lost?")
            assert status == 503 and body["error"]["code"] == 108
            r = await a.request("publish", channel=CH, data="lost?")
            assert r["ok"] is False and r["error"]["code"] == 108
            assert (await a.request("ping"))["ok"]  # connections stay up
            b1 = h1.runtime.broker
            assert isinstance(b1, RedisBroker)
            await wait_until(lambda: b1.probe_failures >= 1, what="self-check alarm")

            redis_server.start()  # same port, every key lost
            for h in (h1, h2):
                await wait_until(lambda h=h: _status(h, "/readyz", 200), timeout=10)
                broker = h.runtime.broker
                assert isinstance(broker, RedisBroker)
                await wait_until(lambda broker=broker: broker.reconnects >= 1)
            status, body = await api_publish(h2, "after")
            assert status == 200 and body["epoch"] != old
            new = body["epoch"]
            # both processes re-subscribed: the live stream goes on, in the new epoch
            await wait_until(lambda: a.messages()[-1]["epoch"] == new, what="re-subscribed")
            await wait_until(lambda: b.messages()[-1]["epoch"] == new)
            assert a.messages()[-1]["data"] == "after"
            async with connect(h1.ws_url, grant(h1, "c", CH)) as c:
                rec = await c.request("subscribe", channel=CH, since={"offset": 5, "epoch": old})
                assert rec["ok"] and rec["recovered"] is False and rec["epoch"] == new


async def _status(h: InProcessHub, path: str, want: int) -> bool:
    status, _ = await h.api("GET", path)
    return status == want


async def test_pubsub_link_killed_gap_is_filled_in_order(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    store = SqliteStore(str(tmp_path / "hub.db"))
    await store.open()
    got: list[Publication] = []
    resubscribed: list[int] = []

    class Handler:
        def on_publication(self, pub: Publication) -> None:
            got.append(pub)

        def on_control(self, channel: str, push: dict[str, Any]) -> None:
            return None

        def on_resubscribed(self) -> None:
            resubscribed.append(1)

    url = fast(redis_server.url)
    sub = RedisBroker(Connector(parse_url(url)), store, probe_interval=0)
    pub = RedisBroker(Connector(parse_url(url)), store, probe_interval=0)
    await sub.start(Handler())
    await pub.start(Recorder())
    try:
        await sub.subscribe(CH)
        for i in range(3):
            await pub.publish(CH, i, b"%d" % i, None, None)
        await wait_until(lambda: len(got) == 3)
        redis_server.command("CLIENT", "KILL", "TYPE", "pubsub")
        for i in range(3, 40):  # some while the link reconnects: a gap to fill
            await pub.publish(CH, i, b"%d" % i, None, None)
            await asyncio.sleep(0)
        await wait_until(lambda: resubscribed and sub.reconnects >= 1, what="on_resubscribed")
        await pub.publish(CH, 40, b"40", None, None)
        await wait_until(lambda: len(got) >= 41, what="all 41")
        assert [p.offset for p in got] == list(range(1, 42))
        assert [p.data for p in got] == list(range(41))
        pos = await sub.position(CH)
        rec = await sub.recover(CH, Since(30, pos.epoch))
        assert rec.recovered and [p.offset for p in rec.publications] == list(range(31, 42))
    finally:
        await sub.close()
        await pub.close()
        await store.close()


async def test_presence_of_a_killed_process_expires(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = fast(redis_server.url)
    proc = HubProcess(tmp_path / "proc", env={"HUB_REDIS_URL": url})
    proc.start()
    try:
        async with (
            running_hub(tmp_path / "h", redis_url=url) as h,
            connect(proc.ws_url, grant(proc, "ghost", CH)) as g,
        ):
            if True:
                await g.request("subscribe", channel=CH)
                await wait_until(
                    lambda: _has_member(h, "ghost"), what="ghost present on the other process"
                )
                proc.kill()
                t0 = asyncio.get_running_loop().time()
                # bound: the presence ttl (0.9 s), plus polling
                await wait_until(lambda: _has_member(h, "ghost", False), timeout=3.0)
                assert asyncio.get_running_loop().time() - t0 < 3.0
    finally:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.kill()


async def _count(h: InProcessHub, member: str, n: int) -> bool:
    return (await h.runtime.presence.get(CH)).get(member) == n


async def _has_member(h: InProcessHub, member: str, present: bool = True) -> bool:
    return (member in await h.runtime.presence.get(CH)) is present


async def test_sigkilled_process_clients_recover_on_another(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    url = fast(redis_server.url)
    proc = HubProcess(tmp_path / "proc", env={"HUB_REDIS_URL": url})
    proc.start()
    try:
        async with running_hub(tmp_path / "h", redis_url=url) as h:
            clients = []
            received: dict[int, list[int]] = {}
            stack = contextlib.AsyncExitStack()
            async with stack:
                for i in range(3):
                    c = await stack.enter_async_context(
                        connect(proc.ws_url, grant(proc, f"m{i}", CH))
                    )
                    r = await c.request("subscribe", channel=CH)
                    clients.append((c, r["epoch"]))
                publisher = asyncio.get_running_loop().create_task(_publish_slowly(h, 60))
                await wait_until(lambda: all(len(c.offsets()) >= 10 for c, _ in clients))
                proc.kill()
                await wait_until(lambda: all(c.ws.close_code is not None for c, _ in clients))
                for i, (c, epoch) in enumerate(clients):
                    have = c.offsets()
                    last = have[-1]
                    c2 = await stack.enter_async_context(
                        connect(h.ws_url, h.token(f"m{i}", channels=[CH]))
                    )
                    r = await c2.request(
                        "subscribe", channel=CH, since={"offset": last, "epoch": epoch}
                    )
                    assert r["recovered"] is True, r
                    received[i] = have + [m["offset"] for m in r["messages"]]
                    clients[i] = (c2, epoch)
                await publisher
                for i, (c2, _) in enumerate(clients):
                    await wait_until(lambda i=i, c2=c2: (received[i] + c2.offsets())[-1] == 60)
                    assert received[i] + c2.offsets() == list(range(1, 61))
    finally:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.kill()


async def _publish_slowly(h: InProcessHub, n: int) -> None:
    for i in range(n):
        status, body = await api_publish(h, i)
        assert status == 200, body
        await asyncio.sleep(0.005)


async def test_redis_cluster_sharded_pubsub(
    tmp_path: Path, redis_cluster: RedisClusterServers
) -> None:
    channels = [f"chat:c{i}" for i in range(8)]
    async with (
        hubs(tmp_path, fast(redis_cluster.url)) as (h1, h2),
        connect(h1.ws_url, grant(h1, "a", *channels)) as a,
    ):
        if True:
            for ch in channels:
                reply = await a.request("subscribe", channel=ch)
                assert reply["ok"], reply
            broker = h1.runtime.broker
            assert isinstance(broker, RedisBroker)
            assert len(broker.connector.client.get_primaries()) == 3  # type: ignore[union-attr]
            for round_ in range(3):
                for ch in channels:
                    status, body = await api_publish((h1, h2)[round_ % 2], round_, ch)
                    assert status == 200 and body["offset"] == round_ + 1, body
            await wait_until(lambda: all(a.offsets(ch) == [1, 2, 3] for ch in channels))
            epoch = a.messages(channels[0])[0]["epoch"]
            page = await a.request(
                "history", channel=channels[0], since={"offset": 1, "epoch": epoch}
            )
            assert [m["offset"] for m in page["messages"]] == [2, 3]
            assert await broker.ready()


async def test_broker_metrics_on_the_metrics_endpoint(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    import aiohttp

    async with running_hub(tmp_path / "m", redis_url=fast(redis_server.url)) as h:
        async with aiohttp.ClientSession() as s, s.get(h.http_url + "/metrics") as r:
            text = await r.text()
        values = {
            ln.split(" ")[0]: float(ln.split(" ")[1])
            for ln in text.splitlines()
            if ln.startswith("hub_broker_")
        }
        assert values["hub_broker_link_up"] == 1.0
        assert values["hub_broker_probe_failures"] == 0.0
        assert "hub_broker_reconnects" in values and "hub_broker_gaps_lost" in values


async def test_events_reach_every_process(tmp_path: Path, redis_server: RedisServer) -> None:
    async with (
        running_hub(tmp_path / "a", redis_url=fast(redis_server.url)) as a,
        running_hub(tmp_path / "b", redis_url=fast(redis_server.url)) as b,
    ):
        got: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
        a.runtime.node.on_event("directory.changed", got["a"].append)
        b.runtime.node.on_event("directory.changed", got["b"].append)
        await a.runtime.node.emit("directory.changed", {"members": ["m1"]})
        await wait_until(lambda: got["a"] and got["b"], what="the event on both processes")
        assert got == {"a": [{"members": ["m1"]}], "b": [{"members": ["m1"]}]}
