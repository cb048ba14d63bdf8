"""The HTTP edge through real sockets: handshake refusals with the protocol's codes,
HTTP/1.0, malformed requests, and the limits on requests that never complete."""

from __future__ import annotations

import time

import pytest
import websockets

from tests.support.hubs import InProcessHub
from tests.support.rawhttp import exchange, parse_response

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade(*drop: str, extra: str = "", version: str = "HTTP/1.1", method: str = "GET") -> bytes:
    lines = {
        "host": "Host: hub.test",
        "upgrade": "Upgrade: websocket",
        "connection": "Connection: Upgrade",
        "key": f"Sec-WebSocket-Key: {KEY}",
        "version": "Sec-WebSocket-Version: 13",
    }
    head = f"{method} /ws {version}\r\n"
    head += "".join(v + "\r\n" for k, v in lines.items() if k not in drop)
    return (head + extra + "\r\n").encode()


# ------------------------------------------------------------------ handshake refusals


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (upgrade("version"), 426, 107),  # no Sec-WebSocket-Version
        (upgrade("version", extra="Sec-WebSocket-Version: 8\r\n"), 426, 107),
        (upgrade("key"), 400, 107),  # no Sec-WebSocket-Key
        (upgrade("key", extra="Sec-WebSocket-Key: c2hvcnQ=\r\n"), 400, 107),
        (upgrade("upgrade"), 426, 107),  # a plain GET /ws
        (upgrade("connection"), 426, 107),
        (upgrade(method="POST"), 426, 107),
        (upgrade(version="HTTP/1.0"), 426, 107),  # the upgrade needs HTTP/1.1
        (upgrade("host"), 400, 107),
        (upgrade(version="HTTP/2.0"), 505, 107),
        (upgrade(extra="X-Big: " + "a" * 20000 + "\r\n"), 431, 106),
        (b"GET /ws HTTP/1.1\r\nHost: h\r\nBroken header\r\n\r\n", 400, 107),
    ],
)
async def test_handshake_refusal_carries_protocol_code(
    hub: InProcessHub, request_bytes: bytes, status: int, code: int
) -> None:
    r = await exchange(hub.port, request_bytes)
    assert r.status == status, r
    assert r.closed
    assert r.headers["content-type"] == "application/json"
    error = r.json()["error"]
    assert error["code"] == code, error
    assert error["message"]


async def test_upgrade_to_a_wrong_path_is_a_json_404(hub: InProcessHub) -> None:
    r = await exchange(hub.port, upgrade().replace(b"GET /ws ", b"GET /wss "))
    assert r.status == 404
    assert r.json()["error"]["code"] == 113


async def test_upgrade_after_a_keep_alive_request_is_refused_with_107(hub: InProcessHub) -> None:
    first = b"GET /healthz HTTP/1.1\r\nHost: hub.test\r\n\r\n"
    r = await exchange(
        hub.port,
        first + upgrade().replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1),
        timeout=5,
    )
    assert r.status == 200  # the first answer; the refusal follows it
    second = parse_response(r.rest, r.closed)
    assert second.status == 400 and second.json()["error"]["code"] == 107


async def test_token_refusals_close_with_the_protocol_close_codes(hub: InProcessHub) -> None:
    for token, close_code, reason in [
        ("not-a-jwt", 4001, "unauthorized"),
        (hub.token("late", exp=int(time.time()) - 60), 4013, "expired"),
    ]:
        async with websockets.connect(f"{hub.ws_url}?token={token}") as ws:
            push = await ws.recv()
            assert f'"code":{close_code}' in str(push).replace(" ", ""), push
            with pytest.raises(websockets.ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == close_code, reason


# ----------------------------------------------------------------------------- HTTP/1.0


async def test_http_1_0_is_served_and_closed(hub: InProcessHub) -> None:
    r = await exchange(hub.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert r.status == 200, r
    assert r.json() == {"status": "ok"}
    assert r.closed  # HTTP/1.0 without keep-alive: the server closes after the answer


async def test_http_1_0_with_host_and_api_errors_are_json(hub: InProcessHub) -> None:
    r = await exchange(hub.port, b"GET /nowhere HTTP/1.0\r\nHost: hub.test\r\n\r\n")
    assert r.status == 404 and r.json()["error"]["code"] == 113 and r.closed
