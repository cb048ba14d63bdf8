"""The server API of PROTOCOL.md §6 over real HTTP, and the operations endpoints."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from tests.support.hubs import InProcessHub
from tests.support.ws import open_ws

ROOM = "chat:room"


async def raw(
    hub: InProcessHub, method: str, path: str, *, key: str | None = "ok", **kw: Any
) -> tuple[int, Any]:
    headers = dict(kw.pop("headers", {}))
    if key is not None:
        headers["Authorization"] = f"Bearer {hub.api_key if key == 'ok' else key}"
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, hub.http_url + path, headers=headers, **kw) as r,
    ):
        text = await r.text()
        try:
            import json

            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


async def test_publish_and_history(hub: InProcessHub) -> None:
    sub = await open_ws(hub.ws_url, hub.token("alice", channels=[ROOM]))
    await sub.ok("subscribe", channel=ROOM)
    status, body = await raw(hub, "POST", "/api/publish", json={"channel": ROOM, "data": {"a": 1}})
    assert status == 200 and body["offset"] == 1 and isinstance(body["epoch"], str)
    (m,) = await sub.messages(ROOM, 1)
    assert m["from"] is None and m["data"] == {"a": 1}
    status, again = await raw(
        hub, "POST", "/api/publish", json={"channel": ROOM, "data": 2, "idem": "x"}
    )
    status, dup = await raw(
        hub, "POST", "/api/publish", json={"channel": ROOM, "data": 3, "idem": "x"}
    )
    assert again == dup == {"offset": 2, "epoch": body["epoch"]}
    status, h = await raw(hub, "GET", f"/api/channels/{ROOM}/history")
    assert status == 200 and [x["data"] for x in h["messages"]] == [{"a": 1}, 2]
    assert h["offset"] == 2 and h["epoch"] == body["epoch"]
    assert h["messages"][0] == m
    status, h = await raw(hub, "GET", f"/api/channels/{ROOM}/history?since=1&epoch={body['epoch']}")
    assert [x["offset"] for x in h["messages"]] == [2]
    status, h = await raw(hub, "GET", f"/api/channels/{ROOM}/history?before=2&limit=5")
    assert [x["offset"] for x in h["messages"]] == [1]
    status, h = await raw(hub, "GET", f"/api/channels/{ROOM}/history?since=0&epoch=zzz")
    assert status == 409 and h["error"]["code"] == 112


@pytest.mark.parametrize(
    ("path", "query", "status", "code"),
    [
        ("/api/channels/chat:room/history", "since=1", 400, 107),
        ("/api/channels/chat:room/history", "since=x&epoch=e", 400, 107),
        ("/api/channels/chat:room/history", "limit=0", 400, 107),
        ("/api/channels/chat:room/history", "limit=%EF%BC%91%EF%BC%90", 400, 107),  # １０
        ("/api/channels/chat:room/history", "limit=1_0", 400, 107),
        ("/api/channels/chat:room/history", "limit=%2010", 400, 107),  # " 10"
        ("/api/channels/chat:room/history", "since=%D9%A1&epoch=e", 400, 107),  # ١
        ("/api/channels/chat:room/history", "since=1&epoch=e&before=3", 400, 107),
        ("/api/channels/bad name/history", "", 400, 102),
        ("/api/channels/nocolon/presence", "", 400, 102),
    ],
)
async def test_bad_queries(
    hub: InProcessHub, path: str, query: str, status: int, code: int
) -> None:
    got, body = await raw(hub, "GET", f"{path}?{query}")
    assert got == status and body["error"]["code"] == code and body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, 107),
        (b"[1,2]", 400, 107),
        (b'{"data": 1}', 400, 107),
        (b'{"channel": "bad", "data": 1}', 400, 102),
        (b'{"channel": "chat:x"}', 400, 107),
        (b'{"channel": "chat:x", "data": 1, "idem": 5}', 400, 107),
        (b'{"channel": "chat:x", "data": "' + b"x" * 70000 + b'"}', 413, 106),
        (b'{"channel": "chat:x", "data": "' + b"x" * (3 << 20) + b'"}', 413, 106),
    ],
)
async def test_publish_bad_bodies(hub: InProcessHub, body: bytes, status: int, code: int) -> None:
    import io

    got, resp = await raw(
        hub,
        "POST",
        "/api/publish",
        data=io.BytesIO(body),
        headers={"Content-Type": "application/json"},
    )
    assert got == status and resp["error"]["code"] == code, resp


@pytest.mark.parametrize("key", [None, "wrong", ""])
async def test_api_key_required(hub: InProcessHub, key: str | None) -> None:
    for method, path in [
        ("POST", "/api/publish"),
        ("GET", f"/api/channels/{ROOM}/history"),
        ("GET", f"/api/channels/{ROOM}/presence"),
        ("POST", "/api/tokens"),
        ("GET", "/api/openapi.json"),
    ]:
        status, body = await raw(hub, method, path, key=key, json={"channel": ROOM, "data": 1})
        assert status == 401 and body["error"]["code"] == 101, (method, path)


async def test_presence_api(hub: InProcessHub) -> None:
    c = await open_ws(hub.ws_url, hub.token("alice", channels=[ROOM]))
    await c.ok("subscribe", channel=ROOM)
    status, body = await raw(hub, "GET", f"/api/channels/{ROOM}/presence")
    assert status == 200 and body == {"members": {"alice": {"clients": 1}}}


async def test_tokens_api(hub: InProcessHub) -> None:
    status, body = await raw(
        hub,
        "POST",
        "/api/tokens",
        json={
            "sub": "zoe",
            "channels": [{"channel": ROOM, "publish": True}],
            "ttl": 600,
            "name": "Zoe",
        },
    )
    assert status == 200
    c = await open_ws(hub.ws_url, body["token"])
    await c.ok("publish", channel=ROOM, data="hi")
    import jwt

    claims = jwt.decode(body["token"], hub.secret, algorithms=["HS256"])
    assert claims["sub"] == "zoe" and claims["name"] == "Zoe"
    assert time.time() + 500 < claims["exp"] < time.time() + 700
    for bad in [
        {},
        {"sub": 5},
        {"sub": "a b"},
        {"sub": "x", "ttl": -1},
        {"sub": "x", "ttl": 1e300},  # "never expires" in all but name
        {"sub": "x", "ttl": 366 * 86400 + 1},
        {"sub": "x", "channels": "c"},
        {"sub": "x", "channels": ["bad"]},
    ]:
        status, resp = await raw(hub, "POST", "/api/tokens", json=bad)
        assert status == 400 and resp["error"]["code"] == 107, bad


async def test_openapi_matches_routes(hub: InProcessHub) -> None:
    status, doc = await raw(hub, "GET", "/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert {
        "/api/publish",
        "/api/channels/{channel}/history",
        "/api/channels/{channel}/presence",
        "/api/tokens",
        "/api/openapi.json",
    } <= set(doc["paths"])
    for path, ops in doc["paths"].items():
        concrete = path.replace("{channel}", ROOM)
        for method in ops:
            got, _ = await raw(hub, method.upper(), concrete, json={})
            assert got not in (404, 405), (method, path, got)
    schema = doc["components"]["schemas"]["Message"]
    assert set(schema["required"]) == {"push", "channel", "offset", "epoch", "data", "from", "ts"}


async def test_ops_endpoints(hub: InProcessHub) -> None:
    assert await raw(hub, "GET", "/healthz", key=None) == (200, {"status": "ok"})
    status, ready = await raw(hub, "GET", "/readyz", key=None)
    assert status == 200 and ready["checks"]["store"]["ok"] and ready["checks"]["broker"]["ok"]
    c = await open_ws(hub.ws_url, hub.token("alice", channels=[{"channel": ROOM, "publish": True}]))
    await c.ok("subscribe", channel=ROOM)
    await c.ok("publish", channel=ROOM, data=1)
    await c.call("nope")
    status, text = await raw(hub, "GET", "/metrics", key=None)
    assert status == 200
    lines = {
        ln.split(" ")[0]: float(ln.split(" ")[1])
        for ln in text.splitlines()
        if ln and not ln.startswith("#")
    }
    assert lines["hub_connections"] == 1 and lines["hub_clients"] == 1
    assert lines["hub_subscriptions"] == 2  # member:alice and the room
    assert lines["hub_messages_in_total"] == 1 and lines["hub_messages_out_total"] == 1
    assert lines['hub_errors_total{code="104"}'] == 1
    assert lines["hub_publish_latency_seconds_count"] == 1
    assert lines["hub_tasks"] >= 1  # at least the request handler's own task


async def test_archive_retention(tmp_path: Any) -> None:
    from tests.support.hubs import running_hub, wait_until

    async with running_hub(tmp_path / "d", history_retention_days=0.00002) as h:  # ~1.7 s
        status, _ = await raw(h, "POST", "/api/publish", json={"channel": ROOM, "data": 1})
        assert status == 200
        store = h.runtime.store

        async def archived() -> int:
            return len(await store.read_messages(ROOM, after=0, before=None, limit=10))

        await wait_until(archived, what="the message archived")
        await wait_until(lambda: _gone(archived), timeout=10, what="the message trimmed")


async def _gone(count: Any) -> bool:
    return await count() == 0


async def test_broker_metrics_exported(hub: InProcessHub) -> None:
    status, text = await raw(hub, "GET", "/metrics", key=None)
    assert status == 200 and "hub_broker_" not in text  # the memory broker has none


class _BrokenRoute:
    """An extension whose route fails with an unexpected exception (a bug)."""

    def install(self, runtime: Any) -> None:
        async def broken(request: Any) -> Any:
            raise RuntimeError("a bug with the secret s3cr3t in it")

        runtime.app.router.add_get("/api/broken", broken)

    async def start(self, runtime: Any) -> None:
        pass

    async def stop(self, runtime: Any) -> None:
        pass


async def test_unexpected_error_is_a_json_500(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.hubs import running_hub

    async with running_hub(tmp_path / "data", extensions=[_BrokenRoute()]) as hub:
        status, body = await raw(hub, "GET", "/api/broken")
    assert status == 500 and body == {"error": {"code": 100, "message": "internal error"}}, body
    assert any("unexpected error on GET /api/broken" in r.getMessage() for r in caplog.records)
