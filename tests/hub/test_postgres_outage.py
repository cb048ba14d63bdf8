"""PostgreSQL down under a ``hub serve`` subprocess: a publish whose archive write
fails is answered 503 with the JSON error body (code 108), never a 500 with a
traceback; once PostgreSQL is back, publishing works again."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.chaos.support import PG_BIN, PgServer, api
from tests.hub import redis_support
from tests.support.hubs import HubProcess, wait_until
from tests.support.ws import open_ws

redis_server = redis_support.redis_server  # fixture


@pytest.fixture
def pg() -> Iterator[PgServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN}")
    server = PgServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(server.dir, ignore_errors=True)


async def test_publish_while_postgres_is_down_is_a_clean_503(
    hub_process: HubProcess, pg: PgServer
) -> None:
    h = hub_process
    h.env = {"HUB_DATABASE_URL": pg.url, "HUB_WORKERS": "1"}
    h.start(timeout=60)
    body = {"channel": "chat:room", "data": {"text": "一"}}
    async with aiohttp.ClientSession() as s:
        assert (await api(s, h, "POST", "/api/publish", body))[0] == 200
        pg.stop("immediate")
        st, reply = await api(s, h, "POST", "/api/publish", body)
        assert st == 503, reply
        assert reply["error"]["code"] == 108 and reply["error"]["message"]
        pg.start()

        async def publishes() -> bool:
            return (await api(s, h, "POST", "/api/publish", body))[0] == 200

        await wait_until(publishes, timeout=30, interval=0.2, what="publishing again")
    h.stop()
    assert "Traceback" not in h.log(), h.log()


@pytest.mark.parametrize("broker", ["memory", "redis"])
async def test_retry_after_a_failed_archive_write_is_archived(
    hub_process: HubProcess, pg: PgServer, broker: str, request: pytest.FixtureRequest
) -> None:
    """The first publish reached the broker but its archive write failed (108); the
    client retries with the same key and is told "duplicate": the message must
    then be in the archive, else the acknowledgement is not durable."""
    h = hub_process
    h.env = {"HUB_DATABASE_URL": pg.url, "HUB_WORKERS": "1"}
    if broker == "redis":
        if redis_support.REDIS_SERVER is None:
            pytest.skip("redis-server is not installed")
        server = request.getfixturevalue("redis_server")
        h.env["HUB_REDIS_URL"] = server.url
    h.start(timeout=60)
    body = {"channel": "chat:room", "data": {"text": "二"}, "idem": "k-1"}
    async with aiohttp.ClientSession() as s:
        first = {"channel": "chat:room", "data": {"text": "一"}}
        assert (await api(s, h, "POST", "/api/publish", first))[0] == 200
        pg.stop("immediate")
        st, reply = await api(s, h, "POST", "/api/publish", body)
        assert st == 503 and reply["error"]["code"] == 108, reply
        pg.start()

        async def retried() -> Any:
            st, reply = await api(s, h, "POST", "/api/publish", body)
            return reply if st == 200 else None

        reply = await wait_until(retried, timeout=30, interval=0.2, what="the retry")
        assert reply["offset"] == 2
    conn = await asyncpg.connect(pg.url)
    try:
        rows = await conn.fetch('SELECT "offset", data FROM hub_messages ORDER BY "offset"')
    finally:
        await conn.close()
    assert [r["offset"] for r in rows] == [1, 2]
    h.stop()


@pytest.mark.parametrize("via", ["http", "websocket"])
async def test_connection_lost_mid_query_is_108(
    hub_process: HubProcess, pg: PgServer, via: str
) -> None:
    """The hub's database connection is cut while a query runs (the server restarts,
    the backend is terminated): the request is answered 108 / HTTP 503 with the JSON
    error body, as any backend out of reach — not as an internal error (100/500)."""
    h = hub_process
    h.env = {"HUB_DATABASE_URL": pg.url, "HUB_WORKERS": "1"}
    h.start(timeout=60)
    lock = await asyncpg.connect(pg.url)
    ws = await open_ws(h.ws_url, h.token("alice", channels=[{"channel": "chat:new"}]))
    try:
        async with aiohttp.ClientSession() as s:
            tx = lock.transaction()
            await tx.start()  # loading a channel the process has not seen waits for this
            await lock.execute("LOCK TABLE hub_channels IN ACCESS EXCLUSIVE MODE")
            if via == "http":
                task = asyncio.create_task(api(s, h, "GET", "/api/channels/chat:new/history"))
            else:
                task = asyncio.create_task(ws.call("subscribe", timeout=20, channel="chat:new"))

            async def waiting() -> list[int]:
                # inside a transaction pg_stat_activity is a snapshot: take a new one
                await lock.execute("SELECT pg_stat_clear_snapshot()")
                rows = await lock.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND pid <> pg_backend_pid()"
                )
                return [r["pid"] for r in rows]

            pids = await wait_until(waiting, timeout=20, interval=0.1, what="a query waiting")
            for pid in pids:
                await lock.execute("SELECT pg_terminate_backend($1)", pid)
            result = await task
            await tx.rollback()
    finally:
        await lock.close()
    if via == "http":
        st, body = result
        assert st == 503 and body["error"]["code"] == 108, result
    else:
        assert result["ok"] is False and result["error"]["code"] == 108, result
    h.stop()
    assert "Traceback" not in h.log(), h.log()
