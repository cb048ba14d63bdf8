"""Process restarts on the embedded default, with a real `hub serve` subprocess:
a clean stop (SIGTERM) keeps history and epochs; a crash (SIGKILL) loses no
acknowledged publish and changes the epoch, so no offset is reused unnoticed."""

from __future__ import annotations

import signal

import aiohttp

from tests.support.hubs import HubProcess
from tests.support.ws import open_ws

ROOM = "chat:room"
GRANT = [{"channel": ROOM, "publish": True}]


async def api_publish(h: HubProcess, data: object) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            h.http_url + "/api/publish",
            json={"channel": ROOM, "data": data},
            headers={"Authorization": f"Bearer {h.api_key}"},
        ) as r,
    ):
        assert r.status == 200, await r.text()
        body: dict[str, object] = await r.json()
        return body


async def test_sigterm_drains_and_restart_recovers(hub_process: HubProcess) -> None:
    h = hub_process
    h.start()
    c = await open_ws(h.ws_url, h.token("alice", channels=GRANT))
    sub = await c.ok("subscribe", channel=ROOM)
    epoch = sub["epoch"]
    for i in range(3):
        await api_publish(h, i)
    seen = await c.messages(ROOM, 3)
    await c.close()
    for i in range(3, 6):  # missed while away
        await api_publish(h, i)
    watcher = await open_ws(h.ws_url, h.token("w", channels=GRANT))
    assert h.stop(signal.SIGTERM) == 0  # graceful: exit status 0
    d = await watcher.push("disconnect")
    assert d["code"] == 4012 and d["reconnect"] is True
    assert "stopped cleanly" in h.log()
    h.start()
    for i in range(6, 8):  # missed after the restart
        await api_publish(h, i)
    c2 = await open_ws(h.ws_url, h.token("alice", channels=GRANT))
    r = await c2.ok("subscribe", channel=ROOM, since={"offset": seen[-1]["offset"], "epoch": epoch})
    assert r["recovered"] is True and r["epoch"] == epoch
    assert [m["data"] for m in r["messages"]] == [3, 4, 5, 6, 7]
    assert [m["offset"] for m in r["messages"]] == [4, 5, 6, 7, 8]
    h.stop()


async def test_sigkill_loses_no_ack_and_changes_epoch(hub_process: HubProcess) -> None:
    h = hub_process
    h.start()
    c = await open_ws(h.ws_url, h.token("alice", channels=GRANT))
    sub = await c.ok("subscribe", channel=ROOM)
    acked = [await c.ok("publish", channel=ROOM, data=i) for i in range(50)]
    assert [a["offset"] for a in acked] == list(range(1, 51))
    h.kill()
    h.start()
    assert "did not stop cleanly" in h.log()
    c2 = await open_ws(h.ws_url, h.token("alice", channels=GRANT))
    r = await c2.ok("subscribe", channel=ROOM, since={"offset": 50, "epoch": sub["epoch"]})
    assert r["recovered"] is False  # the epoch changed: the client must reload
    assert r["epoch"] != sub["epoch"] and r["offset"] == 50
    hist = await c2.ok("history", channel=ROOM, limit=1000)
    assert [m["data"] for m in hist["messages"]] == list(range(50))  # every ack survived
    nxt = await c2.ok("publish", channel=ROOM, data="after")
    assert nxt["offset"] == 51 and nxt["epoch"] == r["epoch"]
    h.stop()
