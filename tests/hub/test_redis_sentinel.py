"""The Redis broker through Redis Sentinel (``redis+sentinel://``): the hub asks a real
sentinel for the master of a service and works through it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.hub import redis_support
from tests.hub.redis_support import REDIS_SERVER, RedisServer, needs_redis
from tests.support.hubs import free_port, running_hub
from tests.support.ws import open_ws

redis_server = redis_support.redis_server  # fixture

pytestmark = needs_redis


@pytest.fixture
def sentinel(tmp_path: Path, redis_server: RedisServer) -> Iterator[int]:
    """A sentinel on a free port monitoring ``redis_server`` as service ``hubmaster``."""
    assert REDIS_SERVER is not None
    port = free_port()
    d = tmp_path / "sentinel"
    d.mkdir()
    conf = d / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {d}\n"
        f"sentinel monitor hubmaster 127.0.0.1 {redis_server.port} 1\n"
        "sentinel down-after-milliseconds hubmaster 2000\n"
    )
    with open(d / "sentinel.log", "wb") as log:
        proc = subprocess.Popen(
            [REDIS_SERVER, str(conf), "--sentinel"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        ask = b"SENTINEL get-master-addr-by-name hubmaster"
        while str(redis_server.port).encode() not in redis_support._ask(port, ask):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((d / "sentinel.log").read_text(errors="replace"))
            time.sleep(0.02)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


async def test_hub_through_sentinel(tmp_path: Path, sentinel: int) -> None:
    url = f"redis+sentinel://127.0.0.1:{sentinel}/hubmaster?probe_interval=0.2"
    async with running_hub(tmp_path / "h", redis_url=url) as h:
        c = await open_ws(h.ws_url, h.token("a", channels=["chat:s"]))
        await c.ok("subscribe", channel="chat:s")
        status, body = await h.api("POST", "/api/publish", {"channel": "chat:s", "data": 1})
        assert status == 200 and body["offset"] == 1
        (m,) = await c.messages("chat:s", 1)
        assert m["data"] == 1 and m["epoch"] == body["epoch"]
        async with aiohttp.ClientSession() as s, s.get(h.http_url + "/readyz") as r:
            assert r.status == 200
        assert type(h.runtime.broker).__name__ == "RedisBroker"
