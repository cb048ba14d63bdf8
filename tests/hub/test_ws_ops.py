"""Every op and push of PROTOCOL.md §2–§3 through a real socket, in both codecs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.hubs import InProcessHub
from tests.support.ws import WsClient, open_ws

ROOM = "chat:room"
GRANT = [{"channel": ROOM, "publish": True}]


@pytest.fixture(params=["json", "msgpack"])
def codec(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def client(hub: InProcessHub, member: str, codec: str = "json", **claims: Any) -> WsClient:
    claims.setdefault("channels", GRANT)
    return await open_ws(hub.ws_url, hub.token(member, **claims), msgpack_codec=codec == "msgpack")


async def test_connect_reply(hub: InProcessHub, codec: str) -> None:
    c = await open_ws(hub.ws_url, msgpack_codec=codec == "msgpack", connect=False)
    r = await c.call("connect", token=hub.token("alice"))
    assert r["ok"] is True and r["id"] == 1
    assert r["member"] == "alice"
    assert r["ping"] == 25
    assert isinstance(r["client"], str) and r["client"]
    assert list(r["subs"]) == ["member:alice"]
    assert r["subs"]["member:alice"]["offset"] == 0
    assert isinstance(r["subs"]["member:alice"]["epoch"], str)


async def test_upgrade_token_query_and_header(hub: InProcessHub) -> None:
    c = await open_ws(hub.ws_url, hub.token("bob"), via_query=True)
    r = await c.ok("connect")  # optional after an upgrade token; answers the session
    assert r["member"] == "bob" and "member:bob" in r["subs"]
    import websockets

    ws = await websockets.connect(
        hub.ws_url, additional_headers={"Authorization": "Bearer " + hub.token("carol")}
    )
    c2 = WsClient(ws, binary=False)
    assert (await c2.ok("presence", channel="member:carol"))["members"] == {"carol": {"clients": 1}}
    await c2.close()
    await c.close()


async def test_subprotocol_negotiation(hub: InProcessHub) -> None:
    c = await open_ws(hub.ws_url, hub.token("a"), subprotocols=["hub.v1.msgpack", "hub.v1.json"])
    assert c.ws.subprotocol == "hub.v1.msgpack" and c.binary
    c2 = await open_ws(hub.ws_url, hub.token("b"), subprotocols=[])
    assert c2.ws.subprotocol is None and not c2.binary  # none offered: JSON
    c3 = await open_ws(hub.ws_url, hub.token("c"), subprotocols=["other"])
    assert c3.ws.subprotocol is None and not c3.binary
    for x in (c, c2, c3):
        await x.close()


async def test_publish_subscribe_message_push(hub: InProcessHub, codec: str) -> None:
    a = await client(hub, "alice", codec)
    b = await client(hub, "bob", "json")
    sub = await a.ok("subscribe", channel=ROOM)
    assert sub["channel"] == ROOM and sub["offset"] == 0 and isinstance(sub["epoch"], str)
    assert "recovered" not in sub and "messages" not in sub
    await b.ok("subscribe", channel=ROOM)
    before = int(time.time() * 1000)
    pub = await b.ok("publish", channel=ROOM, data={"text": "你好", "n": [1, 2.5, None, True]})
    assert pub["offset"] == 1 and pub["epoch"] == sub["epoch"]
    (m,) = await a.messages(ROOM, 1)
    assert m == {
        "push": "message",
        "channel": ROOM,
        "offset": 1,
        "epoch": sub["epoch"],
        "data": {"text": "你好", "n": [1, 2.5, None, True]},
        "from": "bob",
        "ts": m["ts"],
    }
    assert before - 1000 <= m["ts"] <= int(time.time() * 1000) + 1000
    # any JSON value is data
    for value in ("s", 3, None, [1], False):
        await b.ok("publish", channel=ROOM, data=value)
    got = await a.messages(ROOM, 5)
    assert [x["data"] for x in got] == ["s", 3, None, [1], False]
    assert [x["offset"] for x in got] == [2, 3, 4, 5, 6]


async def test_join_leave_pushes(hub: InProcessHub, codec: str) -> None:
    a = await client(hub, "alice", codec)
    await a.ok("subscribe", channel=ROOM)
    assert await a.push("join") == {"push": "join", "channel": ROOM, "member": "alice"}
    b = await client(hub, "bob")
    await b.ok("subscribe", channel=ROOM)
    assert await a.push("join", member="bob") == {"push": "join", "channel": ROOM, "member": "bob"}
    b2 = await client(hub, "bob")  # second connection of bob: no second join
    await b2.ok("subscribe", channel=ROOM)
    await b2.ok("unsubscribe", channel=ROOM)
    await b.close()
    assert await a.push("leave") == {"push": "leave", "channel": ROOM, "member": "bob"}
    assert not [p for p in a.pushes if p.get("push") == "join"]


async def test_presence(hub: InProcessHub, codec: str) -> None:
    a = await client(hub, "alice", codec)
    b1 = await client(hub, "bob")
    b2 = await client(hub, "bob")
    for c in (a, b1, b2):
        await c.ok("subscribe", channel=ROOM)
    r = await a.ok("presence", channel=ROOM)
    assert r["members"] == {"alice": {"clients": 1}, "bob": {"clients": 2}}
    await b2.ok("unsubscribe", channel=ROOM)
    r = await a.ok("presence", channel=ROOM)
    assert r["members"] == {"alice": {"clients": 1}, "bob": {"clients": 1}}


async def test_unsubscribe_stops_delivery(hub: InProcessHub) -> None:
    a = await client(hub, "alice")
    b = await client(hub, "bob")
    await a.ok("subscribe", channel=ROOM)
    await a.ok("unsubscribe", channel=ROOM)
    await b.ok("publish", channel=ROOM, data=1)
    await a.ok("ping")  # ordered after any push the server would have sent
    assert not [p for p in a.pushes if p.get("push") == "message"]
    r = await a.call("unsubscribe", channel=ROOM)
    assert r["error"]["code"] == 110


async def test_idempotent_publish(hub: InProcessHub, codec: str) -> None:
    a = await client(hub, "alice", codec)
    await a.ok("subscribe", channel=ROOM)
    r1 = await a.ok("publish", channel=ROOM, data={"x": 1}, idem="k-1")
    r2 = await a.ok("publish", channel=ROOM, data={"x": 2}, idem="k-1")
    assert r1["offset"] == r2["offset"] == 1 and r1["epoch"] == r2["epoch"]
    r3 = await a.ok("publish", channel=ROOM, data={"x": 3}, idem="k-2")
    assert r3["offset"] == 2
    h = await a.ok("history", channel=ROOM)
    assert [m["data"] for m in h["messages"]] == [{"x": 1}, {"x": 3}]
    assert len(await a.messages(ROOM, 2)) == 2
    await a.ok("ping")
    assert not [p for p in a.pushes if p.get("push") == "message"]


async def test_history_since_before_limit(hub: InProcessHub, codec: str) -> None:
    a = await client(hub, "alice", codec)
    for i in range(1, 31):
        await a.ok("publish", channel=ROOM, data=i)
    h = await a.ok("history", channel=ROOM)
    assert [m["offset"] for m in h["messages"]] == list(range(1, 31))
    assert h["offset"] == 30
    epoch = h["epoch"]
    h = await a.ok("history", channel=ROOM, limit=5)
    assert [m["data"] for m in h["messages"]] == [26, 27, 28, 29, 30]
    h = await a.ok("history", channel=ROOM, since={"offset": 10, "epoch": epoch}, limit=3)
    assert [m["offset"] for m in h["messages"]] == [11, 12, 13]
    h = await a.ok("history", channel=ROOM, before=10, limit=4)
    assert [m["offset"] for m in h["messages"]] == [6, 7, 8, 9]
    h = await a.ok("history", channel=ROOM, before=3, limit=100)
    assert [m["offset"] for m in h["messages"]] == [1, 2]
    h = await a.ok("history", channel=ROOM, since={"offset": 30, "epoch": epoch})
    assert h["messages"] == []
    m = h = await a.ok("history", channel=ROOM, limit=5000)  # capped at 1000
    assert len(m["messages"]) == 30
    r = await a.call("history", channel=ROOM, since={"offset": 1, "epoch": "other"})
    assert r["error"]["code"] == 112
    r = await a.call("history", channel=ROOM, since={"offset": 99, "epoch": epoch})
    assert r["error"]["code"] == 112
    r = await a.call("history", channel=ROOM, since={"offset": 1, "epoch": epoch}, before=5)
    assert r["error"]["code"] == 107


async def test_subscribe_recovery(hub: InProcessHub, codec: str) -> None:
    a = await client(hub, "alice", codec)
    b = await client(hub, "bob")
    sub = await a.ok("subscribe", channel=ROOM)
    epoch = sub["epoch"]
    for i in range(3):
        await b.ok("publish", channel=ROOM, data=i)
    seen = await a.messages(ROOM, 3)
    await a.close()
    for i in range(3, 8):
        await b.ok("publish", channel=ROOM, data=i)
    a2 = await client(hub, "alice", codec)
    r = await a2.ok("subscribe", channel=ROOM, since={"offset": seen[-1]["offset"], "epoch": epoch})
    assert r["recovered"] is True and r["offset"] == 8 and r["epoch"] == epoch
    assert [m["offset"] for m in r["messages"]] == [4, 5, 6, 7, 8]
    assert [m["data"] for m in r["messages"]] == [3, 4, 5, 6, 7]
    assert all(m["push"] == "message" and m["channel"] == ROOM for m in r["messages"])
    await b.ok("publish", channel=ROOM, data=8)
    (live,) = await a2.messages(ROOM, 1)
    assert live["offset"] == 9  # nothing missed or doubled between reply and live stream
    a3 = await client(hub, "alice", codec)
    r = await a3.ok("subscribe", channel=ROOM, since={"offset": 2, "epoch": "stale"})
    assert r["recovered"] is False and r["messages"] == [] and r["offset"] == 9
    a4 = await client(hub, "alice", codec)
    r = await a4.ok("subscribe", channel=ROOM, since={"offset": 9, "epoch": epoch})
    assert r["recovered"] is True and r["messages"] == []


async def test_recovery_window_trimmed(tmp_path: Any) -> None:
    from tests.support.hubs import running_hub

    async with running_hub(tmp_path / "d", history_size=5) as h:
        a = await client(h, "alice")
        for i in range(10):
            await a.ok("publish", channel=ROOM, data=i)
        epoch = (await a.ok("history", channel=ROOM, limit=1))["epoch"]
        r = await a.ok("subscribe", channel=ROOM, since={"offset": 2, "epoch": epoch})
        assert r["recovered"] is False and r["offset"] == 10
        b = await client(h, "bob")
        r = await b.ok("subscribe", channel=ROOM, since={"offset": 5, "epoch": epoch})
        assert r["recovered"] is True and [m["offset"] for m in r["messages"]] == [6, 7, 8, 9, 10]
        # history still reaches beyond the window, from the archive
        hist = await b.ok("history", channel=ROOM, since={"offset": 0, "epoch": epoch}, limit=100)
        assert [m["offset"] for m in hist["messages"]] == list(range(1, 11))
        hist = await b.ok("history", channel=ROOM, before=4, limit=2)
        assert [m["offset"] for m in hist["messages"]] == [2, 3]


async def test_personal_channel_gets_server_publishes(hub: InProcessHub, codec: str) -> None:
    a = await client(hub, "alice", codec)
    status, body = await hub.api(
        "POST", "/api/publish", {"channel": "member:alice", "data": {"kind": "alert"}}
    )
    assert status == 200 and body["offset"] == 1
    (m,) = await a.messages("member:alice", 1)
    assert m["from"] is None and m["data"] == {"kind": "alert"}


async def test_ping_op(hub: InProcessHub, codec: str) -> None:
    a = await client(hub, "alice", codec)
    r = await a.call("ping")
    assert r == {"id": r["id"], "ok": True}


async def test_extension_op_registry(tmp_path: Any) -> None:
    """`receipt` is an op the domain registers; the engine dispatches it like any other."""
    from hub.bootstrap import Runtime
    from hub.protocol.errors import Code, HubError
    from hub.protocol.requests import req_str
    from tests.support.hubs import running_hub

    class ReceiptExt:
        def install(self, rt: Runtime) -> None:
            async def receipt(c: Any, req: Any) -> dict[str, Any]:
                if req.args["notice"] == "missing":
                    raise HubError(Code.NOT_FOUND, "no such notice")
                if req.args["notice"] == "boom":
                    raise RuntimeError("bug")
                return {"notice": req.args["notice"], "state": req.args["state"]}

            def validate(f: Any) -> dict[str, Any]:
                state = f.get("state")
                if state not in ("delivered", "read", "acked"):
                    raise HubError(Code.BAD_REQUEST, "bad state")
                return {"notice": req_str(f, "notice"), "state": state}

            rt.node.dispatcher.register("receipt", validate, receipt)

        async def start(self, rt: Runtime) -> None: ...

        async def stop(self, rt: Runtime) -> None: ...

    async with running_hub(tmp_path / "d", extensions=[ReceiptExt()]) as h:
        a = await client(h, "alice")
        assert (await a.ok("receipt", notice="n1", state="read"))["state"] == "read"
        assert (await a.call("receipt", notice="n1", state="nope"))["error"]["code"] == 107
        assert (await a.call("receipt", notice="missing", state="read"))["error"]["code"] == 113
        r = await a.call("receipt", notice="boom", state="read")
        assert r["error"] == {"code": 100, "message": "internal error"}
        assert (await a.ok("ping"))["ok"]  # the connection is still usable
    async with running_hub(tmp_path / "e") as h:
        a = await client(h, "alice")
        assert (await a.call("receipt", notice="n1", state="read"))["error"]["code"] == 104


async def test_join_leave_capped_in_large_channels(tmp_path: Any) -> None:
    from tests.support.hubs import running_hub

    async with running_hub(tmp_path / "d", join_leave_max=2) as h:
        a = await client(h, "a")
        await a.ok("subscribe", channel=ROOM)
        b = await client(h, "b")
        await b.ok("subscribe", channel=ROOM)
        assert (await a.push("join", member="b"))["member"] == "b"
        c = await client(h, "c")
        await c.ok("subscribe", channel=ROOM)  # a third subscriber: above the cap
        await a.ok("ping")
        assert not [p for p in a.pushes if p.get("push") == "join" and p["member"] == "c"]
        members = (await a.ok("presence", channel=ROOM))["members"]
        assert set(members) == {"a", "b", "c"}  # presence still answers


async def test_node_events_and_their_channel_is_closed_to_clients(hub: InProcessHub) -> None:
    seen: list[dict[str, Any]] = []

    async def handler(payload: dict[str, Any]) -> None:
        seen.append(payload)

    hub.runtime.node.on_event("x.changed", handler)
    await hub.runtime.node.emit("x.changed", {"n": 1})
    from tests.support.hubs import wait_until

    await wait_until(lambda: seen, what="the event")
    assert seen == [{"n": 1}]
    c = await client(hub, "alice")
    assert (await c.call("subscribe", channel="_hub:events"))["error"]["code"] == 102
