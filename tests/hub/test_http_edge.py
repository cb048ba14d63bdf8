"""The HTTP edge through real sockets: handshake refusals with the protocol's codes,
HTTP/1.0, malformed requests, and the limits on requests that never complete."""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import time
from pathlib import Path

import pytest
import websockets

from tests.support.hubs import HubProcess, InProcessHub, running_hub, wait_until
from tests.support.rawhttp import exchange, parse_response, read_until_closed

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


# ----------------------------------------------------------- requests that never complete


async def _closed_within(reader: asyncio.StreamReader, timeout: float) -> bytes:
    seen, closed = await read_until_closed(reader, timeout)
    assert closed, f"the hub kept the connection open for {timeout}s (got {seen!r})"
    return seen


async def test_silent_and_partial_heads_are_closed_after_head_timeout(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", head_timeout=0.5) as h:
        silent = await asyncio.open_connection("127.0.0.1", h.port)
        partial = await asyncio.open_connection("127.0.0.1", h.port)
        partial_ws = await asyncio.open_connection("127.0.0.1", h.port)
        partial[1].write(b"GET /healthz HTTP/1.1\r\nHost: hub.test\r\n")
        partial_ws[1].write(upgrade()[:-2])  # the /ws upgrade without its blank line
        assert await _closed_within(silent[0], 10) == b""
        for reader, _ in (partial, partial_ws):
            r = parse_response(await _closed_within(reader, 10), True)
            assert r.status == 408 and r.json()["error"]["code"] == 107
        for _, writer in (silent, partial, partial_ws):
            writer.close()
        assert h.runtime.edge.pending == {}


async def test_slow_body_gets_408_after_body_timeout(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", body_timeout=0.5) as h:
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
        writer.write(
            b"POST /api/publish HTTP/1.1\r\nHost: hub.test\r\n"
            b"Authorization: Bearer " + h.api_key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        r = parse_response(await _closed_within(reader, 10), True)
        writer.close()
        assert r.status == 408
        assert r.json() == {
            "error": {"code": 107, "message": "the request body did not arrive in time"}
        }
        assert h.runtime.edge.pending == {}


async def test_idle_keep_alive_connection_is_closed(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", keepalive_timeout=0.5) as h:
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub.test\r\n\r\n")
        r = parse_response(await _closed_within(reader, 10), True)
        writer.close()
        assert r.status == 200 and r.json() == {"status": "ok"}
        # a second request head that never completes is bounded by the same timer
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub.test\r\n\r\nGET /healthz HTTP/1.1\r\n")
        r = parse_response(await _closed_within(reader, 10), True)
        writer.close()
        assert r.status == 200


async def test_pending_connections_beyond_the_cap_close_the_oldest(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", max_pending=4, head_timeout=600) as h:
        conns = []
        for _ in range(6):
            conns.append(await asyncio.open_connection("127.0.0.1", h.port))
            conns[-1][1].write(b"GET / HTTP/1.1\r\n")
        await wait_until(lambda: h.runtime.edge.evictions >= 2, 10, what="evictions")
        for reader, _ in conns[:2]:  # the two oldest made room
            assert parse_response(await _closed_within(reader, 10), True).status == 503
        status, body = await h.api("GET", "/healthz")
        assert status == 200 and body == {"status": "ok"}
        for reader, _ in conns[2:]:  # the others still wait for their heads
            assert not reader.at_eof()
        for _, writer in conns:
            writer.close()


def _fd_limit_256() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def _closed(sock: socket.socket) -> bool:
    try:
        while chunk := sock.recv(65536):
            del chunk
    except BlockingIOError:
        return False
    except ConnectionError:
        pass
    return True


def _healthz(port: int, timeout: float) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    r = parse_response(raw, True)
    return r.status, r.body


def test_slowloris_under_a_low_fd_limit(hub_process: HubProcess) -> None:
    """300 connections that never finish a request, against `hub serve` limited to 256
    file descriptors: /healthz still answers at once, and every stale socket is closed."""
    hub_process.env = {"HUB_HEAD_TIMEOUT": "2", "HUB_BODY_TIMEOUT": "2"}
    hub_process.preexec = _fd_limit_256
    hub_process.start()
    port = hub_process.port
    slow_body = (
        b"POST /api/publish HTTP/1.1\r\nHost: hub.test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000\r\n\r\n{"
    )
    openings = [b"", b"GET /ws HTTP/1.1\r\nHost: hub.test\r\nUpgrade: websocket\r\n", slow_body]
    stale = []
    try:
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(openings[i % 3])
            s.setblocking(False)
            stale.append(s)
        started = time.monotonic()
        status, body = _healthz(port, timeout=10)
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert time.monotonic() - started < 5
        deadline = time.monotonic() + 30
        while not all(_closed(s) for s in stale):
            assert time.monotonic() < deadline, "stale sockets still open after 30 s"
            time.sleep(0.1)
        assert _healthz(port, timeout=10)[0] == 200
    finally:
        for s in stale:
            s.close()
    assert hub_process.proc is not None and hub_process.proc.poll() is None
    assert hub_process.stop() == 0
    log = hub_process.log()
    assert "Traceback" not in log and " ERROR " not in log, log


# -------------------------------------------------------------------- malformed HTTP

MARK = b"SECRET-MARK-5f2a"  # must never come back in an answer or go to the log

MALFORMED = [
    b"GET /healthz HTTP/1.1\r\nHost: hub.test\r\nContent-Length: " + MARK + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: hub.test\r\n\r\nGET /x" + MARK + b"\x01 HTTP/1.1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: hub.test\r\n\r\n" + MARK + b"\r\n\r\n",
    b"POST /api/publish HTTP/1.1\r\nHost: hub.test\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 5\r\n\r\n" + MARK,
    b"POST /api/publish HTTP/1.1\r\nHost: hub.test\r\nTransfer-Encoding: chunked\r\n\r\n"
    + MARK
    + b"\r\nxx\r\n",
]


def test_malformed_http_gets_json_400_and_one_warning(hub_process: HubProcess) -> None:
    async def send_all() -> list[bytes]:
        out = []
        for data in MALFORMED:
            reader, writer = await asyncio.open_connection("127.0.0.1", hub_process.port)
            writer.write(data)
            seen, closed = await read_until_closed(reader, 10)
            writer.close()
            assert closed, seen
            out.append(seen)
        return out

    hub_process.start()
    answers = asyncio.run(send_all())
    for data, raw in zip(MALFORMED, answers, strict=True):
        r = parse_response(raw, True)
        if r.status == 200:  # the good request before the bad one on a kept-alive connection
            r = parse_response(r.rest, True)
        assert r.status == 400, (data, raw)
        assert r.headers["content-type"].startswith("application/json")
        assert r.json() == {"error": {"code": 107, "message": "malformed HTTP request"}}
        assert MARK not in raw
    assert hub_process.stop() == 0
    log = hub_process.log()
    assert "malformed HTTP request from 127.0.0.1 refused" in log
    assert " WARNING hub.http: " in log
    assert "Traceback" not in log and " ERROR " not in log and MARK.decode() not in log, log


async def test_websockets_waiting_for_connect_beyond_the_cap_close_the_oldest(
    tmp_path: Path,
) -> None:
    """Upgraded connections that never send ``connect`` count against the same cap:
    one more closes the oldest with 1013 (try again later), not the process's fds."""
    async with running_hub(tmp_path / "d", max_pending=3, connect_timeout=600) as h:
        silent = [await websockets.connect(h.ws_url) for _ in range(4)]
        with pytest.raises(websockets.ConnectionClosed) as info:
            while True:
                frame = await asyncio.wait_for(silent[0].recv(), 10)
                assert '"disconnect"' in str(frame) and "1013" in str(frame)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1013
        assert len(h.runtime.node.unauthenticated) == 3
        # a client with a token at the upgrade is not waiting: it is unaffected
        with_token = await websockets.connect(f"{h.ws_url}?token={h.token('alice')}")
        assert '"push":"connect"' in str(await asyncio.wait_for(with_token.recv(), 10)).replace(
            " ", ""
        )
        await with_token.send('{"id": 1, "op": "ping"}')
        assert '"ok":true' in str(await asyncio.wait_for(with_token.recv(), 10)).replace(" ", "")
        assert len(h.runtime.node.unauthenticated) == 3
        for ws in [*silent[1:], with_token]:
            await ws.close()


async def test_slow_bodies_beyond_the_cap_close_the_oldest(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "d", max_pending=2, body_timeout=600) as h:
        head = (
            b"POST /api/publish HTTP/1.1\r\nHost: hub.test\r\n"
            b"Authorization: Bearer " + h.api_key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        edge = h.runtime.edge
        conns = []
        for n in range(1, 4):
            conns.append(await asyncio.open_connection("127.0.0.1", h.port))
            conns[-1][1].write(head)
            await wait_until(
                lambda n=n: edge.evictions + len(edge.pending) >= n, 10, what="a pending body"
            )
        r = parse_response(await _closed_within(conns[0][0], 10), True)
        assert r.status == 503 and r.json()["error"]["code"] == 108
        assert h.runtime.edge.evictions == 1 and len(h.runtime.edge.pending) == 2
        for _, writer in conns:
            writer.close()
