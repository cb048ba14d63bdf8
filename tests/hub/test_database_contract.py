"""One contract suite for the Database seam: SQLite and a real PostgreSQL (``database_url``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hub.core.interfaces import Database, Migration, Store
from hub.store.postgres import (
    DatabaseUnavailableError,
    PostgresStore,
    redact_url,
    translate_placeholders,
)
from hub.store.sqlite import SqliteStore
from tests.support.hubs import free_port

ITEMS: list[Migration] = [
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER NOT NULL)",
    "CREATE TABLE units (id TEXT PRIMARY KEY, parent TEXT)",
]


def new_store(url: str) -> SqliteStore | PostgresStore:
    return SqliteStore.from_url(url) if url.startswith("sqlite://") else PostgresStore(url)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = new_store(database_url)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def db(store: Store) -> Database:
    await store.database.migrate("test", ITEMS)
    return store.database


async def test_statements_with_qmark_params(db: Database) -> None:
    assert db.dialect in {"sqlite", "postgresql"}
    assert await db.execute("INSERT INTO items VALUES (?, ?, ?)", 1, "一", 10) == 1
    await db.executemany("INSERT INTO items VALUES (?, ?, ?)", [(2, "two", 20), (3, "three", 30)])
    assert await db.execute("UPDATE items SET n = n + ? WHERE id > ?", 1, 1) == 2
    rows = await db.fetch("SELECT id, name, n FROM items WHERE n >= ? ORDER BY id", 10)
    assert [(r["id"], r[1], r["n"]) for r in rows] == [
        (1, "一", 10),
        (2, "two", 21),
        (3, "three", 31),
    ]
    assert dict(rows[0]) == {"id": 1, "name": "一", "n": 10}
    row = await db.fetchrow("SELECT name FROM items WHERE id = ?", 2)
    assert row is not None and row["name"] == "two"
    assert await db.fetchrow("SELECT name FROM items WHERE id = ?", 99) is None
    assert await db.fetchval("SELECT count(*) FROM items WHERE name <> ?", "two") == 2
    assert await db.fetchval("SELECT name FROM items WHERE id = ?", 99) is None
    assert await db.execute("DELETE FROM items WHERE id IN (?, ?)", 1, 99) == 1


async def test_transaction_commits(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO items VALUES (?, ?, ?)", 1, "a", 1)
        await tx.executemany("INSERT INTO items VALUES (?, ?, ?)", [(2, "b", 2)])
        assert await tx.fetchval("SELECT count(*) FROM items") == 2
        row = await tx.fetchrow("SELECT name FROM items WHERE id = ?", 2)
        assert row is not None and row[0] == "b"
        assert len(await tx.fetch("SELECT id FROM items")) == 2
    assert await db.fetchval("SELECT count(*) FROM items") == 2


async def test_exception_in_transaction_rolls_back_everything(db: Database) -> None:
    await db.execute("INSERT INTO items VALUES (?, ?, ?)", 1, "kept", 1)
    with pytest.raises(LookupError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO items VALUES (?, ?, ?)", 2, "lost", 2)
            await tx.execute("UPDATE items SET name = ? WHERE id = ?", "changed", 1)
            raise LookupError("boom")
    rows = await db.fetch("SELECT id, name FROM items ORDER BY id")
    assert [tuple(r) for r in rows] == [(1, "kept")]
    # A failing statement also aborts the whole transaction.
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO items VALUES (?, ?, ?)", 3, "lost", 3)
            await tx.execute("INSERT INTO items VALUES (?, ?, ?)", 1, "again", 1)
    assert await db.fetchval("SELECT count(*) FROM items") == 1
    # The database is usable afterwards.
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO items VALUES (?, ?, ?)", 4, "d", 4)
    assert await db.fetchval("SELECT count(*) FROM items") == 2


async def test_nested_transaction_is_refused(db: Database) -> None:
    with pytest.raises(RuntimeError, match="nested"):
        async with db.transaction() as tx:
            tx.transaction()


async def test_migrate_applies_once_and_in_order(store: Store) -> None:
    db = store.database
    steps: list[Migration] = [
        "CREATE TABLE log (n INTEGER NOT NULL)",
        "INSERT INTO log VALUES (1)",
        "INSERT INTO log VALUES (2);\nINSERT INTO log VALUES (3);",
    ]
    assert await db.migrate("c1", steps) == [1, 2, 3]
    assert await db.migrate("c1", steps) == []
    assert await db.migrate("c1", [*steps, "INSERT INTO log VALUES (4)"]) == [4]
    assert await db.migrate("c2", ["CREATE TABLE other (n INTEGER)"]) == [1]
    assert [r[0] for r in await db.fetch("SELECT n FROM log ORDER BY n")] == [1, 2, 3, 4]
    rows = await db.fetch(
        "SELECT component, version FROM hub_migrations WHERE component <> ?", "hub"
    )
    assert sorted(tuple(r) for r in rows) == [("c1", 1), ("c1", 2), ("c1", 3), ("c1", 4), ("c2", 1)]


async def test_failing_step_is_rolled_back_and_retried(store: Store) -> None:
    db = store.database
    steps: list[Migration] = [
        "CREATE TABLE log (n INTEGER NOT NULL)",
        "INSERT INTO log VALUES (1);\nINSERT INTO missing_table VALUES (2);",
    ]
    with pytest.raises(Exception, match="missing_table"):
        await db.migrate("c", steps)
    assert await db.fetchval("SELECT count(*) FROM log") == 0
    assert await db.migrate("c", [steps[0], "INSERT INTO log VALUES (1)"]) == [2]
    assert await db.fetchval("SELECT count(*) FROM log") == 1


async def test_script_with_statements_on_one_line(store: Store) -> None:
    db = store.database
    steps: list[Migration] = ["CREATE TABLE log (n INTEGER); INSERT INTO log VALUES (1)"]
    assert await db.migrate("c", steps) == [1]
    assert await db.fetchval("SELECT count(*) FROM log") == 1


async def test_dialect_specific_steps(store: Store) -> None:
    db = store.database
    step: Migration = {
        "sqlite": "CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)",
        "postgresql": "CREATE TABLE blobs (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL)",
    }
    assert await db.migrate("c", [step]) == [1]
    await db.execute("INSERT INTO blobs (body) VALUES (?)", b"\x00\xff")
    assert await db.fetchval("SELECT body FROM blobs") == b"\x00\xff"


async def test_concurrent_migrate_applies_each_step_once(database_url: str) -> None:
    slow = {  # so that the second process checks while the first one applies
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 300000) SELECT count(*) FROM c",
        "postgresql": "SELECT pg_sleep(0.2)",
    }
    steps: list[Migration] = [
        {d: "CREATE TABLE once (n INTEGER NOT NULL);\n" + sql for d, sql in slow.items()},
        "INSERT INTO once VALUES (1)",
        "INSERT INTO once VALUES (2)",
    ]
    a, b = new_store(database_url), new_store(database_url)
    await asyncio.gather(a.open(), b.open())
    try:
        got = await asyncio.gather(a.database.migrate("c", steps), b.database.migrate("c", steps))
        assert sorted(got[0] + got[1]) == [1, 2, 3]
        assert [r[0] for r in await a.database.fetch("SELECT n FROM once ORDER BY n")] == [1, 2]
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_upsert_returning_and_recursive(db: Database) -> None:
    upsert = (
        "INSERT INTO items (id, name, n) VALUES (?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, n = items.n + excluded.n "
        "RETURNING id, n"
    )
    row = await db.fetchrow(upsert, 1, "a", 5)
    assert row is not None and (row["id"], row["n"]) == (1, 5)
    row = await db.fetchrow(upsert, 1, "b", 7)
    assert row is not None and (row["id"], row["n"]) == (1, 12)
    assert await db.fetchval("SELECT name FROM items WHERE id = ?", 1) == "b"
    await db.execute(
        "INSERT INTO items VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", 1, "ignored", 0
    )
    assert await db.fetchval("SELECT name FROM items WHERE id = ?", 1) == "b"

    await db.executemany(
        "INSERT INTO units VALUES (?, ?)",
        [("district", None), ("street", "district"), ("branch", "street"), ("other", None)],
    )
    rows = await db.fetch(
        "WITH RECURSIVE sub(id, depth) AS ("
        " SELECT id, 0 FROM units WHERE id = ?"
        " UNION ALL SELECT u.id, sub.depth + 1 FROM units u JOIN sub ON u.parent = sub.id"
        ") SELECT id, depth FROM sub ORDER BY depth",
        "district",
    )
    assert [tuple(r) for r in rows] == [("district", 0), ("street", 1), ("branch", 2)]
    deleted = await db.fetch("DELETE FROM units WHERE parent IS NULL RETURNING id")
    assert sorted(r[0] for r in deleted) == ["district", "other"]


# -- PostgreSQL specifics -----------------------------------------------------
def test_placeholders_are_translated_outside_quotes() -> None:
    sql = "SELECT '?', \"a?\" FROM t -- ?\nWHERE a = ? AND b IN (?, ?)"
    assert translate_placeholders(sql) == (
        "SELECT '?', \"a?\" FROM t -- ?\nWHERE a = $1 AND b IN ($2, $3)"
    )
    assert translate_placeholders("SELECT 'it''s ?' WHERE x = ?") == "SELECT 'it''s ?' WHERE x = $1"
    assert translate_placeholders(sql) is translate_placeholders(sql)  # cached


def test_redact_url() -> None:
    assert redact_url("postgresql://hub:s3cret@db.example:5432/hub?max_size=5") == (
        "postgresql://hub:***@db.example:5432/hub?max_size=5"
    )
    assert redact_url("postgresql://hub@h/db?password=s3cret&sslmode=require") == (
        "postgresql://hub@h/db?password=%2A%2A%2A&sslmode=require"
    )
    assert redact_url("postgresql://h1:5432,h2:5433/db") == "postgresql://h1:5432,h2:5433/db"
    assert "p@ss" not in redact_url("postgresql://u:p@ss@h/db")


async def test_unreachable_server_is_named_without_password() -> None:
    port = free_port()
    store = PostgresStore(f"postgresql://hub:s3cret@127.0.0.1:{port}/hub?connect_timeout=2")
    with pytest.raises(DatabaseUnavailableError) as info:
        await store.open()
    message = str(info.value)
    assert f"127.0.0.1:{port}/hub" in message and "s3cret" not in message
    await store.close()  # closing a store that never opened is harmless
