"""PostgreSQL down under a ``hub serve`` subprocess: a publish whose archive write
fails is answered 503 with the JSON error body (code 108), never a 500 with a
traceback; once PostgreSQL is back, publishing works again."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import aiohttp
import pytest

from tests.chaos.support import PG_BIN, PgServer, api
from tests.support.hubs import HubProcess, wait_until


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
