from __future__ import annotations

import json

import websockets

from tests.support.hubs import InProcessHub


async def test_publish_reaches_subscriber(hub: InProcessHub) -> None:
    tok = hub.token("m1", channels=[{"channel": "chat:room", "publish": True}])
    async with websockets.connect(hub.ws_url) as ws:
        await ws.send(json.dumps({"id": 1, "op": "connect", "token": tok}))
        reply = json.loads(await ws.recv())
        assert reply["ok"] and reply["member"] == "m1"
        assert set(reply["subs"]) == {"member:m1"}
        await ws.send(json.dumps({"id": 2, "op": "subscribe", "channel": "chat:room"}))
        assert json.loads(await ws.recv()) == {
            "id": 2,
            "ok": True,
            "channel": "chat:room",
            "offset": 0,
            "epoch": reply["subs"]["member:m1"]["epoch"],
        }
        join = json.loads(await ws.recv())
        assert join == {"push": "join", "channel": "chat:room", "member": "m1"}
        await ws.send(
            json.dumps({"id": 3, "op": "publish", "channel": "chat:room", "data": {"t": "你好"}})
        )
        frames = [json.loads(await ws.recv()) for _ in range(2)]
        push = next(f for f in frames if f.get("push") == "message")
        ack = next(f for f in frames if f.get("id") == 3)
        assert ack["ok"] and ack["offset"] == 1
        assert push["data"] == {"t": "你好"} and push["offset"] == 1 and push["from"] == "m1"
