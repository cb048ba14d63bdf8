"""One contract for every broker (hub/core/interfaces.py): memory and Redis.

Each test gets a broker factory over a fresh SqliteStore (and, for Redis, a
fresh ``redis-server``); brokers it builds are closed at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.brokers.memory import MemoryBroker
from hub.brokers.redis import Connector, RedisBroker, parse_url
from hub.core.interfaces import Broker
from hub.core.types import Publication, PublishResult
from hub.protocol.errors import Code, HubError
from hub.protocol.requests import Since
from hub.store.sqlite import SqliteStore
from tests.hub import redis_support
from tests.hub.redis_support import RedisServer
from tests.support.hubs import wait_until

redis_server = redis_support.redis_server  # fixtures
redis_cluster = redis_support.redis_cluster
CH = "chat:room"


class Recorder:
    """A BrokerHandler that records what it is told."""

    def __init__(self) -> None:
        self.pubs: list[Publication] = []
        self.controls: list[tuple[str, dict[str, Any]]] = []
        self.resubscribed = 0

    def on_publication(self, pub: Publication) -> None:
        self.pubs.append(pub)

    def on_control(self, channel: str, push: dict[str, Any]) -> None:
        self.controls.append((channel, push))

    def on_resubscribed(self) -> None:
        self.resubscribed += 1

    def offsets(self, channel: str = CH) -> list[int]:
        return [p.offset for p in self.pubs if p.channel == channel]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


@dataclass
class Env:
    kind: str
    store: SqliteStore
    redis: RedisServer | None
    clock: Clock = field(default_factory=Clock)
    brokers: list[Broker] = field(default_factory=list)

    async def make(self, size: int = 1000, ttl: float = 3600.0) -> tuple[Broker, Recorder]:
        broker: Broker
        if self.kind == "memory":
            broker = MemoryBroker(self.store, history_size=size, history_ttl=ttl, clock=self.clock)
        else:
            assert self.redis is not None
            broker = RedisBroker(
                Connector(parse_url(self.redis.url)),
                self.store,
                history_size=size,
                history_ttl=ttl,
                probe_interval=0.2,
                clock=self.clock,
            )
        rec = Recorder()
        await broker.start(rec)
        await broker.subscribe(CH)
        self.brokers.append(broker)
        return broker, rec


@pytest.fixture(params=["memory", "redis"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    store = SqliteStore(str(tmp_path / "hub.db"))
    await store.open()
    server = request.getfixturevalue("redis_server") if request.param == "redis" else None
    e = Env(request.param, store, server)
    try:
        yield e
    finally:
        for b in e.brokers:
            await b.close()
        await store.close()


async def pub(
    b: Broker, data: Any, from_: str | None = "m1", idem: str | None = None, channel: str = CH
) -> PublishResult:
    """Publish as the node does: acknowledged once the write is durable."""
    r = await b.publish(channel, data, orjson.dumps(data), from_, idem)
    if r.committed is not None:
        await r.committed
    return r


async def publish_n(b: Broker, n: int, channel: str = CH) -> list[int]:
    return [(await pub(b, {"i": i}, channel=channel)).offset for i in range(n)]


async def test_offsets_are_gapless_and_delivered_in_order(env: Env) -> None:
    b, rec = await env.make()
    results = await asyncio.gather(*(pub(b, {"i": i}) for i in range(60)))
    assert sorted(r.offset for r in results) == list(range(1, 61))
    assert len({r.epoch for r in results}) == 1
    await wait_until(lambda: len(rec.offsets()) == 60, what="60 deliveries")
    assert rec.offsets() == list(range(1, 61))
    got = rec.pubs[0]
    assert got.from_ == "m1" and isinstance(got.ts, int) and got.epoch == results[0].epoch
    assert (await b.position(CH)).offset == 60


async def test_payload_round_trips_unicode_and_nesting(env: Env) -> None:
    b, rec = await env.make()
    data = {"t": "你好", "n": [1, 2.5, None, True, {"k": "v"}], "big": 2**62}
    await pub(b, data, None)
    await wait_until(lambda: rec.pubs, what="delivery")
    assert rec.pubs[0].data == data and rec.pubs[0].from_ is None


async def test_idempotent_publish_within_the_window(env: Env) -> None:
    b, rec = await env.make()
    first = await pub(b, {"a": 1}, idem="key-1")
    again = await pub(b, {"a": 2}, idem="key-1")
    assert (first.offset, first.duplicate) == (1, False)
    assert (again.offset, again.epoch, again.duplicate) == (1, first.epoch, True)
    other = await pub(b, {"a": 3}, idem="key-2")
    assert other.offset == 2 and not other.duplicate
    await wait_until(lambda: len(rec.offsets()) == 2)
    assert (await b.position(CH)).offset == 2
    page = await b.history(CH, None, None, 10)
    assert [p.data for p in page.publications] == [{"a": 1}, {"a": 3}]


async def test_idempotency_key_forgotten_past_the_window(env: Env) -> None:
    b, _ = await env.make(size=3)
    await pub(b, 1, idem="old")
    await publish_n(b, 4)
    r = await pub(b, 2, idem="old")
    assert not r.duplicate and r.offset == 6


async def test_position_of_a_new_channel_is_stable(env: Env) -> None:
    b, _ = await env.make()
    p1 = await b.position("chat:new")
    p2 = await b.position("chat:new")
    assert p1.offset == 0 and p1.epoch and p1 == p2
    r = await pub(b, 1, channel="chat:new")
    assert (r.offset, r.epoch) == (1, p1.epoch)


async def test_recover_true_returns_exactly_the_missed(env: Env) -> None:
    b, _ = await env.make()
    await publish_n(b, 5)
    pos = await b.position(CH)
    rec = await b.recover(CH, Since(2, pos.epoch))
    assert rec.recovered and rec.position == pos
    assert [p.offset for p in rec.publications] == [3, 4, 5]
    assert [p.data for p in rec.publications] == [{"i": 2}, {"i": 3}, {"i": 4}]
    up_to_date = await b.recover(CH, Since(5, pos.epoch))
    assert up_to_date.recovered and up_to_date.publications == []
    from_zero = await b.recover(CH, Since(0, pos.epoch))
    assert from_zero.recovered and [p.offset for p in from_zero.publications] == [1, 2, 3, 4, 5]


async def test_recover_false_cases(env: Env) -> None:
    b, _ = await env.make(size=5, ttl=60.0)
    await publish_n(b, 10)
    pos = await b.position(CH)
    assert not (await b.recover(CH, Since(8, "other-epoch"))).recovered
    future = await b.recover(CH, Since(11, pos.epoch))
    assert not future.recovered and future.position == pos
    trimmed = await b.recover(CH, Since(4, pos.epoch))
    assert not trimmed.recovered and trimmed.publications == []
    edge = await b.recover(CH, Since(5, pos.epoch))
    assert edge.recovered and [p.offset for p in edge.publications] == [6, 7, 8, 9, 10]
    env.clock.now += 61_000  # everything is older than the window's ttl
    assert not (await b.recover(CH, Since(8, pos.epoch))).recovered
    assert (await b.recover(CH, Since(10, pos.epoch))).recovered


async def test_history_none_before_since_with_limits(env: Env) -> None:
    b, _ = await env.make()
    await publish_n(b, 10)
    epoch = (await b.position(CH)).epoch
    newest = await b.history(CH, None, None, 3)
    assert [p.offset for p in newest.publications] == [8, 9, 10]
    assert newest.position.offset == 10 and newest.position.epoch == epoch
    back = await b.history(CH, None, 8, 3)
    assert [p.offset for p in back.publications] == [5, 6, 7]
    first = await b.history(CH, None, 3, 100)
    assert [p.offset for p in first.publications] == [1, 2]
    assert (await b.history(CH, None, 1, 100)).publications == []
    after = await b.history(CH, Since(4, epoch), None, 3)
    assert [p.offset for p in after.publications] == [5, 6, 7]
    assert [p.offset for p in (await b.history(CH, Since(0, epoch), None, 100)).publications] == (
        list(range(1, 11))
    )
    assert (await b.history(CH, Since(10, epoch), None, 5)).publications == []
    for bad in (Since(11, epoch), Since(3, "other-epoch")):
        with pytest.raises(HubError) as err:
            await b.history(CH, bad, None, 5)
        assert err.value.code == Code.UNRECOVERABLE
    empty = await b.history("chat:empty", None, None, 10)
    assert empty.publications == [] and empty.position.offset == 0


async def test_history_beyond_the_window_reads_the_archive(env: Env) -> None:
    b, _ = await env.make(size=4)
    await publish_n(b, 12)
    epoch = (await b.position(CH)).epoch
    everything = await b.history(CH, Since(0, epoch), None, 100)
    assert [p.offset for p in everything.publications] == list(range(1, 13))
    assert [p.data for p in everything.publications][:2] == [{"i": 0}, {"i": 1}]
    assert all(p.epoch == epoch for p in everything.publications)
    page = await b.history(CH, Since(2, epoch), None, 5)
    assert [p.offset for p in page.publications] == [3, 4, 5, 6, 7]
    straddle = await b.history(CH, Since(6, epoch), None, 4)
    assert [p.offset for p in straddle.publications] == [7, 8, 9, 10]
    newest = await b.history(CH, None, None, 6)
    assert [p.offset for p in newest.publications] == [7, 8, 9, 10, 11, 12]
    back = await b.history(CH, None, 7, 3)
    assert [p.offset for p in back.publications] == [4, 5, 6]
    assert not (await b.recover(CH, Since(2, epoch))).recovered


async def test_control_pushes_reach_subscribers(env: Env) -> None:
    b, rec = await env.make()
    push = {"push": "join", "channel": CH, "member": "m1"}
    await b.publish_control(CH, push)
    await wait_until(lambda: rec.controls, what="control push")
    assert rec.controls == [(CH, push)]


async def test_ready_and_unsubscribe(env: Env) -> None:
    b, _ = await env.make()
    assert await b.ready()
    await b.unsubscribe(CH)
    await b.subscribe(CH)
    assert (await pub(b, 1)).offset == 1


async def test_two_brokers_share_offsets_and_see_each_other(env: Env) -> None:
    if env.kind == "memory":
        pytest.skip("the memory broker is one process")
    a, rec_a = await env.make()
    b, rec_b = await env.make()
    offsets = []
    for i in range(20):
        r = await pub(a if i % 2 else b, i)
        offsets.append(r.offset)
    assert offsets == list(range(1, 21))
    await wait_until(lambda: rec_a.offsets() == rec_b.offsets() == list(range(1, 21)))
