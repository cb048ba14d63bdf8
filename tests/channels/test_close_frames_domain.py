"""4003 (the member was deleted from the directory) is a close like the others: no
data frame follows it. The late reply is a publish held by a real PostgreSQL table
lock taken from another session (the directory's tables stay writable)."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.app import DomainExtension
from hub.core.session import SessionState
from tests.channels.conftest import DomainHub, load_org
from tests.hub.test_close_frames import BIG, GRANT, ROOM, close_code, last_data
from tests.support.hubs import hub_settings, running_hub, wait_until
from tests.support.rawws import OP_CLOSE, RawWs, data_after_close

pg = pytest.importorskip("tests.support.postgres")
asyncpg = pytest.importorskip("asyncpg")


async def test_no_data_frame_follows_the_4003_close(tmp_path: Path) -> None:
    async with pg.temp_database("tz_close") as db_url:
        ext = DomainExtension(hub_settings(tmp_path / "d"), adapters_env={}, escalation_poll=None)
        async with running_hub(
            tmp_path / "d", extensions=[ext], database_url=db_url, client_queue_max=64 << 20
        ) as h:
            await load_org(DomainHub(h, ext))
            for i in range(100):
                status, _ = await h.api("POST", "/api/publish", {"channel": ROOM, "data": [i, BIG]})
                assert status == 200
            node = h.runtime.node
            raw = RawWs(h.port, h.token("m1", channels=GRANT), rcvbuf=4096)
            (c,) = await wait_until(lambda: node.connections_of("m1"), what="authenticated")
            raw.send(RawWs.request(2, "history", channel=ROOM, limit=100))
            await wait_until(
                lambda: c.transport is not None and c.transport.get_write_buffer_size() > 0,
                what="output buffered",
            )
            lock = await asyncpg.connect(db_url)
            tr = lock.transaction()
            await tr.start()
            await lock.execute("LOCK TABLE hub_messages IN EXCLUSIVE MODE")
            try:
                raw.send(RawWs.request(1, "publish", channel=ROOM, data="late"))
                await wait_until(lambda: node.stats.messages_in > 100, what="publish in flight")
                status, body = await h.api("DELETE", "/api/members/m1")
                assert status == 200, body
                await wait_until(lambda: c.state >= SessionState.CLOSING, what="4003")
                observed = node.stats.latency_count
            finally:
                await tr.rollback()
            try:

                async def committed() -> bool:
                    n = await lock.fetchval(
                        "SELECT count(*) FROM hub_messages WHERE channel = $1", ROOM
                    )
                    return bool(n == 101) and node.stats.latency_count > observed

                await wait_until(committed, timeout=10, what="the publish committed")
            finally:
                await lock.close()
            await wait_until(lambda: node._flush_handle is None, what="flushed")
            _, frames = await raw.read_to_end()
    assert not data_after_close(frames), [f.payload[:80] for f in data_after_close(frames)]
    assert frames[-1].opcode == OP_CLOSE and close_code(frames) == 4003
    d = last_data(frames)
    assert d["push"] == "disconnect" and d["code"] == 4003, d
