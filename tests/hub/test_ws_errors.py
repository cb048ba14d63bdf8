"""Every error code and close code of PROTOCOL.md §5 through a real socket, and bad
input of every kind: answered with the protocol's code, the connection usable where
the protocol says so, other clients unaffected."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.support.hubs import InProcessHub, running_hub, wait_until
from tests.support.ws import WsClient, open_ws

ROOM = "chat:room"
GRANT = [{"channel": ROOM, "publish": True}]


async def client(hub: InProcessHub, member: str, **claims: Any) -> WsClient:
    claims.setdefault("channels", GRANT)
    return await open_ws(hub.ws_url, hub.token(member, **claims))


async def test_malformed_frames_answer_107_and_stay_open(hub: InProcessHub) -> None:
    c = await open_ws(hub.ws_url, connect=False)
    bad: list[str | bytes] = [
        "not json",
        "[1, 2]",
        '"str"',
        "{}",
        '{"op": "ping"}',
        '{"id": "1", "op": "ping"}',
        '{"id": 1.5, "op": "ping"}',
        '{"id": true, "op": "ping"}',
        "\xff\xfe",
    ]
    for frame in bad:
        await c.send_raw(frame)
        p = await c.push("error")
        assert p["code"] == 107 and p["message"], frame
    # an integer id: answered as a reply
    await c.send_raw('{"id": 7, "op": 5}')
    assert (await c.reply(7))["error"]["code"] == 107
    await c.send_raw('{"id": 0, "op": "ping"}')
    assert (await c.reply(0))["error"]["code"] == 107
    await c.send_raw(b"\x93\x01\x02\x03")  # binary frame on a JSON connection
    assert (await c.push("error"))["code"] == 107
    r = await c.call("connect", token=7)
    assert r["error"]["code"] == 107
    r = await c.call("connect", token=hub.token("alice"))
    assert r["ok"]


async def test_msgpack_malformed(hub: InProcessHub) -> None:
    c = await open_ws(hub.ws_url, hub.token("alice", channels=GRANT), msgpack_codec=True)
    await c.send_raw(b"\xc1")  # never used in msgpack
    assert (await c.push("error"))["code"] == 107
    await c.send_raw(msgpack.packb([1, 2]))
    assert (await c.push("error"))["code"] == 107
    # bytes are not a JSON value
    r = await c.call("publish", channel=ROOM, data=b"\x00\x01")
    assert r["error"]["code"] == 107
    await c.send_raw(msgpack.packb({1: 2}))  # non-string key
    assert (await c.push("error"))["code"] == 107
    assert (await c.ok("ping"))["ok"]


@pytest.mark.parametrize(
    ("op", "fields"),
    [
        ("subscribe", {}),
        ("subscribe", {"channel": 5}),
        ("subscribe", {"channel": ROOM, "since": 5}),
        ("subscribe", {"channel": ROOM, "since": {"offset": -1, "epoch": "e"}}),
        ("subscribe", {"channel": ROOM, "since": {"offset": 1}}),
        ("publish", {"channel": ROOM}),
        ("publish", {"channel": ROOM, "data": 1, "idem": 5}),
        ("publish", {"channel": ROOM, "data": 1, "idem": "x" * 65}),
        ("history", {"channel": ROOM, "limit": 0}),
        ("history", {"channel": ROOM, "limit": "10"}),
        ("history", {"channel": ROOM, "before": 0}),
        ("presence", {}),
        ("unsubscribe", {"channel": None}),
    ],
)
async def test_bad_fields_107(hub: InProcessHub, op: str, fields: dict[str, Any]) -> None:
    c = await client(hub, "alice")
    r = await c.call(op, **fields)
    assert r["ok"] is False and r["error"]["code"] == 107, r
    assert (await c.ok("ping"))["ok"]


@pytest.mark.parametrize(
    "channel", ["nocolon", "Upper:x", ":x", "a:", "a:b c", "a" * 33 + ":x", "a:" + "x" * 129, "a:é"]
)
async def test_bad_channel_102(hub: InProcessHub, channel: str) -> None:
    c = await client(hub, "alice")
    r = await c.call("subscribe", channel=channel)
    assert r["error"]["code"] == 102, r


async def test_unknown_namespace_102_and_permissions_103(hub: InProcessHub) -> None:
    c = await client(hub, "alice")
    assert (await c.call("subscribe", channel="nowhere:x"))["error"]["code"] == 102
    assert (await c.call("subscribe", channel="member:bob"))["error"]["code"] == 103
    assert (await c.call("publish", channel="member:alice", data=1))["error"]["code"] == 103
    assert (await c.call("history", channel="member:bob"))["error"]["code"] == 103
    assert (await c.call("presence", channel="member:bob"))["error"]["code"] == 103
    # a grant without publish: subscribe yes, publish no
    d = await open_ws(hub.ws_url, hub.token("dan", channels=["chat:ro"]))
    await d.ok("subscribe", channel="chat:ro")
    assert (await d.call("publish", channel="chat:ro", data=1))["error"]["code"] == 103


async def test_open_namespace_from_settings(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", namespaces="chat,room") as h:
        c = await open_ws(h.ws_url, h.token("alice"))
        await c.ok("subscribe", channel="room:1")
        await c.ok("publish", channel="chat:any", data=1)
        assert (await c.call("subscribe", channel="other:1"))["error"]["code"] == 102


async def test_unknown_op_104_and_already_subscribed_105(hub: InProcessHub) -> None:
    c = await client(hub, "alice")
    assert (await c.call("teleport"))["error"]["code"] == 104
    await c.ok("subscribe", channel=ROOM)
    assert (await c.call("subscribe", channel=ROOM))["error"]["code"] == 105
    assert (await c.call("subscribe", channel="member:alice"))["error"]["code"] == 105


async def test_unauthenticated_ops_101(hub: InProcessHub) -> None:
    c = await open_ws(hub.ws_url, connect=False)
    for op, fields in [
        ("subscribe", {"channel": ROOM}),
        ("publish", {"channel": ROOM, "data": 1}),
        ("history", {"channel": ROOM}),
        ("ping", {}),
    ]:
        assert (await c.call(op, **fields))["error"]["code"] == 101
    assert (await c.ok("connect", token=hub.token("alice")))["member"] == "alice"
    # a connect without credentials is refused and closed: there is nothing to retry with
    c = await open_ws(hub.ws_url, connect=False)
    assert (await c.call("connect"))["error"]["code"] == 101
    assert (await c.closed())[0] == 4001


async def test_forged_token_101_then_4001(hub: InProcessHub) -> None:
    from tests.support.hubs import mint

    c = await open_ws(hub.ws_url, connect=False)
    r = await c.call("connect", token=mint("another-secret-of-32-bytes-or-more!!", "alice"))
    assert r["error"]["code"] == 101
    assert (await c.push("disconnect"))["code"] == 4001
    assert (await c.closed())[0] == 4001
    c = await open_ws(hub.ws_url, connect=False)
    r = await c.call("connect", token="not-a-jwt")
    assert r["error"]["code"] == 101
    assert (await c.closed())[0] == 4001
    # forged token at the upgrade: accepted, then 4001
    c = await open_ws(hub.ws_url, mint("another-secret-of-32-bytes-or-more!!", "x"), via_query=True)
    assert (await c.closed())[0] == 4001
    # a token whose sub is not a member id
    c = await open_ws(hub.ws_url, connect=False)
    assert (await c.call("connect", token=hub.token("has space")))["error"]["code"] == 101


async def test_expired_token_109_then_4013(hub: InProcessHub) -> None:
    c = await open_ws(hub.ws_url, connect=False)
    r = await c.call("connect", token=hub.token("alice", exp=int(time.time()) - 10))
    assert r["error"]["code"] == 109
    d = await c.push("disconnect")
    assert d["code"] == 4013 and d["reconnect"] is True
    assert (await c.closed())[0] == 4013
    c = await open_ws(hub.ws_url, hub.token("alice", exp=int(time.time()) - 10), via_query=True)
    assert (await c.closed())[0] == 4013


async def test_token_expiring_during_connection_4013(hub: InProcessHub) -> None:
    c = await open_ws(hub.ws_url, hub.token("alice", exp=int(time.time()) + 1))
    d = await c.push("disconnect", timeout=5)
    assert d == {"push": "disconnect", "code": 4013, "reason": "token expired", "reconnect": True}
    assert (await c.closed())[0] == 4013


async def test_refresh_extends_session(hub: InProcessHub) -> None:
    c = await open_ws(hub.ws_url, hub.token("alice", exp=int(time.time()) + 60))
    (conn,) = hub.runtime.node.connections_of("alice")
    loop = asyncio.get_running_loop()
    assert conn.timer is not None and conn.timer.when() - loop.time() <= 61
    r = await c.ok("refresh", token=hub.token("alice", exp=int(time.time()) + 3600))
    assert r["exp"] > time.time() + 3000
    # the expiry timer follows the new token: 4013 comes an hour from now, not in a minute
    assert conn.timer is not None and conn.timer.when() - loop.time() > 3000
    assert (await c.call("refresh", token=hub.token("bob")))["error"]["code"] == 103
    r = await c.ok("refresh", token=hub.token("alice"))  # a token without exp: no timer
    assert r["exp"] is None and conn.timer is None
    assert (await c.ok("ping"))["ok"]


async def test_connect_timeout_4001(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", connect_timeout=0.2) as h:
        c = await open_ws(h.ws_url, connect=False)
        d = await c.push("disconnect")
        assert d["code"] == 4001 and d["reconnect"] is False
        assert (await c.closed())[0] == 4001


async def test_data_size_limit_106(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", max_data_size=1000) as h:
        c = await client(h, "alice")
        ok = "x" * 990  # JSON-encoded: 992 bytes
        assert (await c.ok("publish", channel=ROOM, data=ok))["offset"] == 1
        r = await c.call("publish", channel=ROOM, data="x" * 1000)
        assert r["error"]["code"] == 106
        assert (await c.ok("ping"))["ok"]
        # persistent size abuse closes with 4009
        for _ in range(12):
            await c.send("publish", channel=ROOM, data="x" * 2000)
        assert (await c.closed())[0] == 4009


async def test_subscription_limit_106(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", max_subscriptions=4, namespaces="room") as h:
        c = await open_ws(h.ws_url, h.token("alice"))  # member:alice is one
        for i in range(3):
            await c.ok("subscribe", channel=f"room:{i}")
        assert (await c.call("subscribe", channel="room:9"))["error"]["code"] == 106
        await c.ok("unsubscribe", channel="room:0")
        await c.ok("subscribe", channel="room:9")


async def test_rate_limit_111_then_4029(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", rate_limit=1, rate_burst=5) as h:
        c = await client(h, "alice")  # connect took one token
        ids = [await c.send("ping") for _ in range(8)]
        codes = [(await c.reply(i)).get("error", {}).get("code") for i in ids]
        assert codes[:4] == [None] * 4 and codes[4:] == [111] * 4
        other = await client(h, "bob")  # other clients are unaffected
        assert (await other.ok("ping"))["ok"]
        for _ in range(10):
            await c.send("ping")
        assert (await c.closed())[0] == 4029
        assert (await other.ok("ping"))["ok"]


async def test_malformed_flood_4008(hub: InProcessHub) -> None:
    c = await client(hub, "alice")
    for _ in range(60):
        await c.send_raw("garbage")
    assert (await c.closed())[0] == 4008


async def test_frame_over_1mib_1009_but_1mib_answered(hub: InProcessHub) -> None:
    c = await client(hub, "alice")
    # a frame just under 1 MiB is read and answered (106: data too large)
    frame = json.dumps({"id": 1, "op": "publish", "channel": ROOM, "data": "x" * ((1 << 20) - 100)})
    assert len(frame) <= 1 << 20
    await c.send_raw(frame)
    assert (await c.reply(1))["error"]["code"] == 106
    await c.send_raw("x" * ((1 << 20) + 1))
    assert (await c.closed())[0] == 1009


async def test_unrecoverable_112(hub: InProcessHub) -> None:
    c = await client(hub, "alice")
    await c.ok("publish", channel=ROOM, data=1)
    r = await c.call("history", channel=ROOM, since={"offset": 0, "epoch": "nope"})
    assert r["error"]["code"] == 112


async def test_internal_error_100_and_unavailable_108(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d") as h:
        c = await client(h, "alice")
        await c.ok("publish", channel=ROOM, data=1)
        # the store goes away under the hub: publishes answer 108, never a false success
        store = h.runtime.store
        await store.database.close()  # type: ignore[attr-defined]
        r = await c.call("publish", channel=ROOM, data=2)
        assert r["error"]["code"] == 108, r
        async with (
            __import__("aiohttp").ClientSession() as s,
            s.get(h.http_url + "/readyz") as resp,
        ):
            assert resp.status == 503
        await store.database.open()  # type: ignore[attr-defined]


async def test_slow_consumer_4010_does_not_slow_others(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", client_queue_max=65536) as h:
        # a raw client with a tiny receive window that never reads
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", h.port))
        raw.sendall(
            b"GET /ws?token=" + h.token("slow", channels=GRANT).encode() + b" HTTP/1.1\r\n"
            b"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        node = h.runtime.node
        await wait_until(lambda: node.connections_of("slow"), what="slow client authenticated")
        (slow_client,) = node.connections_of("slow")
        await node.subscribe(slow_client, ROOM, None)  # subscribed server-side to the room
        fast = await client(h, "fast")
        await fast.ok("subscribe", channel=ROOM)
        payload = "y" * 30000
        for i in range(100):
            status, _ = await h.api("POST", "/api/publish", {"channel": ROOM, "data": [i, payload]})
            assert status == 200
        got = await fast.messages(ROOM, 100, timeout=10)
        assert [m["data"][0] for m in got] == list(range(100))
        await wait_until(lambda: not node.connections_of("slow"), what="slow client dropped")
        assert h.runtime.node.stats.slow_consumers == 1
        raw.setblocking(False)
        data = b""
        deadline = time.monotonic() + 5
        while b"\x88" not in data[-200:] and time.monotonic() < deadline:  # a close frame
            try:
                chunk = raw.recv(1 << 20)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            if not chunk:
                break
            data += chunk
        assert b'"code":4010' in data
        raw.close()


async def test_shutdown_4012(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d") as h:
        c = await client(h, "alice")
        other = await open_ws(h.ws_url, connect=False)  # not yet authenticated: told too
        await h.runtime.stop()
        for x in (c, other):
            d = await x.push("disconnect")
            assert d == {
                "push": "disconnect",
                "code": 4012,
                "reason": "server shutting down",
                "reconnect": True,
            }
            assert (await x.closed())[0] == 4012
        with pytest.raises(OSError):
            await open_ws(h.ws_url, connect=False)


async def test_handshake_errors(hub: InProcessHub) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        async with s.get(hub.http_url + "/ws") as r:  # not an upgrade
            assert r.status == 426
            assert (await r.json())["error"]["message"]
        async with s.get(hub.http_url + "/nowhere") as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == 113
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    writer.write(b"GARBAGE\r\n\r\n")
    head = await reader.read(1000)
    assert head.startswith(b"HTTP/1.1 400")
    writer.close()


async def test_other_clients_unaffected_by_abuse(hub: InProcessHub) -> None:
    good = await client(hub, "good")
    await good.ok("subscribe", channel=ROOM)
    bad = await client(hub, "bad")
    for _ in range(60):
        await bad.send_raw("{{{")
    assert (await bad.closed())[0] == 4008
    status, _ = await hub.api("POST", "/api/publish", {"channel": ROOM, "data": "still here"})
    assert status == 200
    (m,) = await good.messages(ROOM, 1)
    assert m["data"] == "still here"


async def test_failed_broker_subscribe_is_retried(hub: InProcessHub) -> None:
    """A broker that fails to subscribe (Redis away) fails that subscribe with its code;
    the next subscribe to the channel tries again instead of repeating the old error."""
    from hub.protocol.errors import HubError

    broker = hub.runtime.broker
    real = broker.subscribe
    calls = 0

    async def flaky(channel: str) -> None:
        nonlocal calls
        if channel == ROOM:
            calls += 1
            if calls == 1:
                raise HubError(108, "broker unavailable")
        await real(channel)

    broker.subscribe = flaky  # type: ignore[method-assign]
    c = await client(hub, "alice")
    assert (await c.call("subscribe", channel=ROOM))["error"]["code"] == 108
    assert ROOM not in hub.runtime.node.channels
    await c.ok("subscribe", channel=ROOM)
    assert calls == 2


async def test_server_pings_and_closes_a_silent_connection(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", ping_interval=0.2) as h:
        # a client that answers pings (websockets does) stays through several intervals
        alive = await client(h, "alive")
        # a raw client that never answers anything
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
        writer.write(
            b"GET /ws?token=" + h.token("silent").encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        seen = b""
        async with asyncio.timeout(5):
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break  # the server closed the connection
                seen += chunk
        assert b"\x89\x00" in seen  # it was pinged (an empty ping frame)
        assert b"no answer to ping" in seen  # then told why, and closed
        writer.close()
        assert (await alive.ok("ping"))["ok"]
        assert h.runtime.node.connections_of("silent") == []
