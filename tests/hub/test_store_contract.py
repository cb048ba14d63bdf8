"""One contract suite for every Store: SQLite and a real PostgreSQL (``database_url``)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.core.interfaces import ArchivedMessage, Store
from hub.store.postgres import PostgresStore
from hub.store.sqlite import SqliteStore


def new_store(url: str) -> SqliteStore | PostgresStore:
    return SqliteStore.from_url(url) if url.startswith("sqlite://") else PostgresStore(url)


class Stores:
    """Opens stores on one database; closes at the end the ones still open."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opened: list[Store] = []

    async def __call__(self) -> Store:
        store = new_store(self.url)
        await store.open()
        self.opened.append(store)
        return store

    async def close(self, store: Store) -> None:
        self.opened.remove(store)
        await store.close()

    async def crash(self, store: Store) -> None:
        """What a SIGKILL leaves: connections gone, the run never marked stopped."""
        self.opened.remove(store)
        assert isinstance(store, PostgresStore | SqliteStore)
        await store.abort()


@pytest.fixture
async def open_store(database_url: str) -> AsyncIterator[Stores]:
    stores = Stores(database_url)
    yield stores
    for store in stores.opened:
        await store.close()


def msg(
    channel: str,
    offset: int,
    *,
    epoch: str = "e1",
    ts: int = 1000,
    idem: str | None = None,
    data: bytes | None = None,
    from_: str | None = "m1",
) -> ArchivedMessage:
    body = data if data is not None else b'{"n":%d}' % offset
    return ArchivedMessage(channel, epoch, offset, ts, from_, body, idem)


def offsets(messages: list[ArchivedMessage]) -> list[int]:
    return [m.offset for m in messages]


async def test_ping_and_fresh_store(open_store: Stores) -> None:
    store = await open_store()
    await store.ping()
    assert len(store.default_epoch) == 8
    assert not store.recovered_from_crash
    assert await store.load_channel("chat:none", 10, 0) is None
    assert await store.read_messages("chat:none", after=None, before=None, limit=10) == []


async def test_clean_reopen_keeps_epoch_and_messages(open_store: Stores) -> None:
    store = await open_store()
    epoch = store.default_epoch
    await store.write_messages([msg("chat:a", 1, epoch=epoch), msg("chat:a", 2, epoch=epoch)])
    await open_store.close(store)
    again = await open_store()
    assert not again.recovered_from_crash
    assert again.default_epoch == epoch
    snap = await again.load_channel("chat:a", 10, 0)
    assert snap is not None
    assert (snap.epoch, snap.top, offsets(snap.recent)) == (epoch, 2, [1, 2])
    assert snap.recent[0] == msg("chat:a", 1, epoch=epoch)


async def test_two_live_stores_on_one_database_are_not_a_crash(open_store: Stores) -> None:
    """Several processes share one database (``--workers`` with Redis)."""
    first = await open_store()
    second = await open_store()
    assert not second.recovered_from_crash
    assert second.default_epoch == first.default_epoch
    await open_store.close(first)
    third = await open_store()
    assert not third.recovered_from_crash


async def test_unclean_stop_changes_epochs_and_keeps_rows(open_store: Stores) -> None:
    store = await open_store()
    first = store.default_epoch
    await store.write_messages([msg("chat:a", 1, epoch="ea"), msg("chat:b", 1, epoch="eb")])
    await open_store.crash(store)
    after = await open_store()
    assert after.recovered_from_crash
    assert after.default_epoch != first
    a, b = await after.load_channel("chat:a", 10, 0), await after.load_channel("chat:b", 10, 0)
    assert a is not None and b is not None
    assert a.epoch not in {"ea", first} and b.epoch not in {"eb", first}
    assert (a.top, offsets(a.recent), b.top, offsets(b.recent)) == (1, [1], 1, [1])
    read = await after.read_messages("chat:a", after=0, before=None, limit=10)
    assert [(m.offset, m.epoch) for m in read] == [(1, a.epoch)]
    # The recovery is itself recorded: the next clean reopen changes nothing.
    epoch = after.default_epoch
    await open_store.close(after)
    clean = await open_store()
    assert not clean.recovered_from_crash and clean.default_epoch == epoch
    snap = await clean.load_channel("chat:a", 10, 0)
    assert snap is not None and snap.epoch == a.epoch


async def test_load_channel_limit_and_min_ts(open_store: Stores) -> None:
    store = await open_store()
    await store.write_messages([msg("chat:a", n, ts=1000 + n) for n in range(1, 11)])
    await store.write_messages([msg("chat:other", 1, ts=5000)])
    snap = await store.load_channel("chat:a", 3, 0)
    assert snap is not None and (snap.epoch, snap.top) == ("e1", 10)
    assert offsets(snap.recent) == [8, 9, 10]
    snap = await store.load_channel("chat:a", 100, 1006)
    assert snap is not None and offsets(snap.recent) == [6, 7, 8, 9, 10]
    snap = await store.load_channel("chat:a", 100, 9999)
    assert snap is not None and (snap.top, snap.recent) == (10, [])


async def test_write_is_idempotent_and_top_only_grows(open_store: Stores) -> None:
    store = await open_store()
    await store.write_messages([msg("chat:a", 1, data=b"first"), msg("chat:a", 2)])
    await store.write_messages([msg("chat:a", 1, data=b"again"), msg("chat:a", 1, data=b"dup")])
    await store.write_messages([])
    snap = await store.load_channel("chat:a", 10, 0)
    assert snap is not None and snap.top == 2
    assert [m.data_json for m in snap.recent] == [b"first", b'{"n":2}']
    await store.write_messages([msg("chat:a", 5, epoch="other")])
    await store.write_messages([msg("chat:a", 3)])  # late: top stays 5, epoch stays
    snap = await store.load_channel("chat:a", 10, 0)
    assert snap is not None and (snap.epoch, snap.top, offsets(snap.recent)) == (
        "e1",
        5,
        [1, 2, 3, 5],
    )


async def test_fields_round_trip(open_store: Stores) -> None:
    store = await open_store()
    data = '{"t":"你好"}'.encode() + bytes(range(256))
    await store.write_messages(
        [msg("unit:街道", 1, ts=1_700_000_000_123, from_=None, idem="k-1", data=data)]
    )
    [m] = await store.read_messages("unit:街道", after=0, before=None, limit=1)
    assert m == ArchivedMessage("unit:街道", "e1", 1, 1_700_000_000_123, None, data, "k-1")
    assert type(m.data_json) is bytes


async def test_read_messages_after_before_newest(open_store: Stores) -> None:
    store = await open_store()
    await store.write_messages([msg("chat:a", n) for n in range(1, 21)])
    await store.write_messages([msg("chat:b", n) for n in range(1, 4)])

    async def read(after: int | None, before: int | None, limit: int) -> list[int]:
        return offsets(await store.read_messages("chat:a", after=after, before=before, limit=limit))

    assert await read(0, None, 3) == [1, 2, 3]
    assert await read(17, None, 10) == [18, 19, 20]
    assert await read(20, None, 10) == []
    assert await read(5, 3, 2) == [6, 7]  # after wins over before
    assert await read(None, 10, 3) == [7, 8, 9]
    assert await read(None, 2, 5) == [1]
    assert await read(None, 1, 5) == []
    assert await read(None, None, 4) == [17, 18, 19, 20]
    assert await read(None, None, 100) == list(range(1, 21))


async def test_trim(open_store: Stores) -> None:
    store = await open_store()
    await store.write_messages([msg("chat:a", n, ts=n * 100) for n in range(1, 6)])
    assert isinstance(store, SqliteStore | PostgresStore)
    assert await store.trim(300) == 2
    assert await store.trim(300) == 0
    snap = await store.load_channel("chat:a", 10, 0)
    assert snap is not None and (snap.top, offsets(snap.recent)) == (5, [3, 4, 5])


async def test_database_is_shared(open_store: Stores) -> None:
    store = await open_store()
    await store.write_messages([msg("chat:a", 1)])
    assert (
        await store.database.fetchval("SELECT top FROM hub_channels WHERE name = ?", "chat:a") == 1
    )


async def test_a_failed_write_makes_the_next_start_change_epochs(open_store: Stores) -> None:
    """Offsets were handed out (fanned out) that the archive never got: even a clean
    stop must not let the next run hand them out again under the same epoch."""
    store = await open_store()
    await store.write_messages([msg("chat:a", 1, epoch="ea")])
    broken = msg("chat:a", 2, epoch="ea")
    if isinstance(store, SqliteStore):  # SQLite takes a NULL key: make the disk fail
        real = store._db.run_locked

        async def disk_full(fn: Any) -> Any:
            store._db.run_locked = real  # type: ignore[method-assign]
            raise sqlite3.OperationalError("database or disk is full")

        store._db.run_locked = disk_full  # type: ignore[method-assign]
    else:
        broken.channel = None  # type: ignore[assignment]  # PostgreSQL refuses the row
    with pytest.raises(Exception):  # noqa: B017 - each store raises its driver's error
        await store.write_messages([broken])
    await open_store.close(store)  # a clean stop, after the failure
    after = await open_store()
    assert after.recovered_from_crash
    snap = await after.load_channel("chat:a", 10, 0)
    assert snap is not None and snap.epoch != "ea" and snap.top == 1
