"""Two hubs on one host (two supervisors, or two processes given the same node name)
sharing Redis and PostgreSQL, as real `hub serve` processes: their node and client
ids never collide, and a directory change made through one reaches the other's live
subscriptions — a node event is never dropped as "our own" by a name comparison."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

from tests.channels.conftest import ORG_GROUPS, ORG_MEMBERS, ORG_UNITS
from tests.hub import redis_support
from tests.hub.redis_support import RedisServer
from tests.support.hubs import HubProcess
from tests.support.ws import open_ws

redis_server = redis_support.redis_server  # fixture

pg = pytest.importorskip("tests.support.postgres")


async def _api(p: HubProcess, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {p.api_key}"}
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, p.http_url + path, json=body, headers=headers) as r,
    ):
        assert r.status in (200, 201, 204), (r.status, await r.text())
        return await r.json(content_type=None) if r.status != 204 else None


async def _client_id(p: HubProcess, member: str) -> str:
    async with websockets.connect(p.ws_url, open_timeout=5) as ws:
        await ws.send(json.dumps({"id": 1, "op": "connect", "token": p.token(member)}))
        reply = json.loads(await ws.recv())
    assert reply["ok"], reply
    client: str = reply["client"]
    return client


def _ready_nodes(p: HubProcess) -> list[str]:
    m = re.search(r"hub ready: all \d+ workers .* nodes ([^;]+);", p.log())
    assert m, p.log()
    return [n.strip() for n in m.group(1).split(",")]


@pytest.fixture
def pair(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[dict[str, str], Path]]:
    yield {"HUB_REDIS_URL": redis_server.url}, tmp_path


def _start_two(env: dict[str, str], tmp: Path, args: list[str]) -> tuple[HubProcess, HubProcess]:
    a = HubProcess(tmp / "a", env=env, args=args)
    b = HubProcess(tmp / "b", env=env, args=args, secret=a.secret, api_key=a.api_key)
    a.start(timeout=60)
    try:
        b.start(timeout=60)
    except BaseException:
        a.stop()
        raise
    return a, b


async def test_two_supervisors_on_one_host_have_distinct_node_and_client_ids(
    pair: tuple[dict[str, str], Path],
) -> None:
    env, tmp = pair
    async with pg.temp_database("tz_nodes") as db_url:
        a, b = _start_two({**env, "HUB_DATABASE_URL": db_url}, tmp, ["--workers", "2"])
        try:
            nodes_a, nodes_b = _ready_nodes(a), _ready_nodes(b)
            assert len(set(nodes_a + nodes_b)) == 4, (nodes_a, nodes_b)
            ids_a = {await _client_id(a, "m1") for _ in range(6)}
            ids_b = {await _client_id(b, "m1") for _ in range(6)}
            assert len(ids_a | ids_b) == 12, (ids_a, ids_b)
            prefixes_a = {i.split(".", 1)[0] for i in ids_a}
            prefixes_b = {i.split(".", 1)[0] for i in ids_b}
            assert not prefixes_a & prefixes_b, (prefixes_a, prefixes_b)
        finally:
            assert a.stop() == 0, a.log()
            assert b.stop() == 0, b.log()


async def test_group_removal_through_one_process_revokes_on_a_namesake(
    pair: tuple[dict[str, str], Path],
) -> None:
    env, tmp = pair
    async with pg.temp_database("tz_nodes") as db_url:
        # one process each, both named as a supervisor on host "vm" names its first worker
        args = ["--workers", "1", "--node-id", "vm-w0"]
        a, b = _start_two({**env, "HUB_DATABASE_URL": db_url}, tmp, args)
        try:
            for unit in ORG_UNITS:
                await _api(a, "POST", "/api/units", unit)
            for member in ORG_MEMBERS:
                await _api(a, "POST", "/api/members", member)
            for group in ORG_GROUPS:
                await _api(a, "POST", "/api/groups", group)
            assert await _client_id(a, "m2") != await _client_id(b, "m2")
            c = await open_ws(b.ws_url, b.token("m1"))  # m1 is connected to process B
            await c.ok("subscribe", channel="group:g1")  # B now has m1's permissions cached
            await _api(a, "DELETE", "/api/groups/g1/members/m1")  # the change is made on A
            push = await c.push("unsubscribe", timeout=20)
            assert push["channel"] == "group:g1" and push["reason"]
            r = await c.call("publish", channel="group:g1", data={"text": "还在吗"})
            assert r["error"]["code"] == 103, r
        finally:
            assert a.stop() == 0, a.log()
            assert b.stop() == 0, b.log()
