"""hub.client through real sockets against real hubs (in-process and `hub serve`).

Reconnect tests put a small TCP proxy between the client and the hub: blocking
it keeps the client away (deterministically) while messages are published
through the server API; cutting it drops the connection without a close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import aiohttp
import orjson
import pytest

from hub.client import (
    Client,
    ClientClosed,
    ConnectError,
    ConnectionLost,
    EndCause,
    HubError,
    Item,
    Message,
    Position,
    PresenceEvent,
    RequestTimeout,
    Reset,
    State,
    StateChange,
    Subscription,
)
from hub.core.ops import REPLIED
from hub.core.session import Session as ServerClient
from hub.protocol.errors import Close
from hub.protocol.requests import Request
from tests.support.hubs import HubProcess, InProcessHub, free_port, running_hub, wait_until

FAST = (0.02, 0.1)  # reconnect backoff for tests
ROOT = Path(__file__).resolve().parents[2]


def grant(*channels: str) -> list[dict[str, Any]]:
    return [{"channel": ch, "publish": True} for ch in channels]


async def next_item(sub: Subscription, timeout: float = 5.0) -> Item:
    async with asyncio.timeout(timeout):
        return await sub.__anext__()


async def take(sub: Subscription, n: int) -> list[Item]:
    return [await next_item(sub) for _ in range(n)]


async def api_publish(http_url: str, key: str, channel: str, data: Any) -> Position:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{http_url}/api/publish", json={"channel": channel, "data": data}, headers=headers
        ) as r,
    ):
        body = await r.json()
        assert r.status == 200, body
        return Position(body["offset"], body["epoch"])


def offsets(items: list[Item]) -> list[int]:
    assert all(isinstance(i, Message) for i in items), items
    return [i.offset for i in items if isinstance(i, Message)]


class Proxy:
    """A TCP forwarder the test can block (refuse new connections) and cut."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.blocked = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.blocked:
                return
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                return
            self._writers.add(up_w)
            try:
                await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer))
            finally:
                await self._close(up_w)
        finally:
            await self._close(writer)

    @staticmethod
    async def _pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        w.close()

    async def _close(self, w: asyncio.StreamWriter) -> None:
        self._writers.discard(w)
        w.close()
        with contextlib.suppress(OSError):
            await w.wait_closed()

    def cut(self) -> None:
        """Drop every forwarded connection (the client sees 1006)."""
        for w in list(self._writers):
            w.transport.abort()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await wait_until(lambda: not self._writers, what="proxy connections closed")


@contextlib.asynccontextmanager
async def proxy_to(port: int) -> AsyncIterator[Proxy]:
    p = Proxy(port)
    await p.start()
    try:
        yield p
    finally:
        await p.close()


def server_client(hub: InProcessHub, c: Client) -> ServerClient:
    assert c.client_id is not None
    return hub.runtime.node.clients[c.client_id]


@contextlib.asynccontextmanager
async def client(url: str, token: str, **kw: Any) -> AsyncIterator[Client]:
    kw.setdefault("backoff", FAST)
    kw.setdefault("request_timeout", 5.0)
    async with Client(url, token, **kw) as c:
        yield c


# -- publish, subscribe, history, presence ---------------------------------------------------
@pytest.mark.parametrize("codec", ["json", "msgpack"])
async def test_publish_and_subscribe(hub: InProcessHub, codec: Literal["json", "msgpack"]) -> None:
    tok = hub.token("m1", channels=grant("chat:room"))
    async with client(hub.ws_url, tok, codec=codec) as a, client(hub.ws_url, tok) as b:
        assert a.member == "m1" and a.state is State.CONNECTED
        sub = await a.subscribe("chat:room")
        assert (sub.offset, sub.channel) == (0, "chat:room")
        sent = [{"text": "你好", "n": i, "nested": [1, None, True]} for i in range(3)]
        positions = [await b.publish("chat:room", d) for d in sent]
        assert [p.offset for p in positions] == [1, 2, 3]
        got = await take(sub, 3)
        assert [m.data for m in got if isinstance(m, Message)] == sent
        first = got[0]
        assert isinstance(first, Message)
        assert (first.channel, first.from_, first.epoch) == ("chat:room", "m1", positions[0].epoch)
        assert first.ts > 0 and sub.position == positions[2]


async def test_idempotent_publish(hub: InProcessHub) -> None:
    async with client(hub.ws_url, hub.token("m1", channels=grant("chat:i"))) as c:
        one = await c.publish("chat:i", 1, idem="k1")
        assert await c.publish("chat:i", 1, idem="k1") == one
        assert (await c.history("chat:i")).offset == 1


async def test_history_paging(hub: InProcessHub) -> None:
    async with client(hub.ws_url, hub.token("m1", channels=grant("chat:h"))) as c:
        for i in range(1, 26):
            await c.publish("chat:h", i)
        newest = await c.history("chat:h", limit=10)
        assert [m.data for m in newest.messages] == list(range(16, 26)) and newest.offset == 25
        back = await c.history("chat:h", before=16, limit=10)
        assert [m.offset for m in back.messages] == list(range(6, 16))
        forward = await c.history("chat:h", since=Position(0, newest.epoch), limit=10)
        assert [m.offset for m in forward.messages] == list(range(1, 11))
        assert (await c.history("chat:h")).messages[-1].data == 25


async def test_presence_and_join_leave(hub: InProcessHub) -> None:
    async with (
        client(hub.ws_url, hub.token("m1", channels=grant("chat:p"))) as a,
        client(hub.ws_url, hub.token("m2", channels=grant("chat:p"))) as b,
    ):
        sub = await a.subscribe("chat:p")
        events = sub.presence_events()
        await b.subscribe("chat:p")
        assert await a.presence("chat:p") == {"m1": 1, "m2": 1}
        seen: list[PresenceEvent] = []
        async with asyncio.timeout(5):
            while len(seen) < 2:
                seen.append(await anext(events))
        await b.unsubscribe("chat:p")
        async with asyncio.timeout(5):
            seen.append(await anext(events))
        assert [(e.kind, e.member) for e in seen] == [
            ("join", "m1"),
            ("join", "m2"),
            ("leave", "m2"),
        ]
        assert await a.presence("chat:p") == {"m1": 1}


# -- errors ----------------------------------------------------------------------------------
async def test_error_mapping(hub: InProcessHub) -> None:
    channels = [{"channel": "chat:ro"}, {"channel": "chat:rw", "publish": True}]
    async with client(hub.ws_url, hub.token("m1", channels=channels)) as c:
        cases: list[tuple[int, Callable[[], Awaitable[object]]]] = [
            (103, lambda: c.subscribe("member:m2")),
            (102, lambda: c.subscribe("chat:secret")),  # no domain: unknown namespace
            (102, lambda: c.subscribe("no channel")),
            (103, lambda: c.publish("chat:ro", 1)),
            (103, lambda: c.publish("member:m1", 1)),
            (104, lambda: c.request("no_such_op")),
            (107, lambda: c.history("chat:ro", limit=0)),
            (107, lambda: c.publish("chat:rw", 1, idem="k" * 65)),
            (110, lambda: c.unsubscribe("chat:ro")),
            (106, lambda: c.publish("chat:rw", "x" * 70000)),
        ]
        for code, call in cases:
            with pytest.raises(HubError) as info:
                await call()
            assert info.value.code == code, (code, info.value)
        await c.subscribe("chat:ro")
        with pytest.raises(HubError) as info:
            await c.subscribe("chat:ro")
        assert info.value.code == 105
        assert c.state is State.CONNECTED  # errors leave the connection usable
        assert set(c.subscriptions()) == {"member:m1", "chat:ro"}


async def test_extension_op_with_request(hub: InProcessHub) -> None:
    async def echo(_: ServerClient, req: Request) -> object:
        return {"echo": req.args["value"]}

    hub.runtime.node.dispatcher.register("echo", lambda f: {"value": f.get("value")}, echo)
    async with client(hub.ws_url, hub.token("m1")) as c:
        assert await c.request("echo", value={"a": [1, 2]}) == {"echo": {"a": [1, 2]}}
        await c.ping()


async def test_pending_request_fails_with_connection_lost_and_times_out(
    hub: InProcessHub,
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(_: ServerClient, req: Request) -> object:
        started.set()
        await release.wait()
        return REPLIED

    hub.runtime.node.dispatcher.register("slow", lambda f: {}, slow)
    try:
        async with client(hub.ws_url, hub.token("m1")) as c:
            pending = asyncio.ensure_future(c.request("slow"))
            await wait_until(started.is_set, what="request in flight")
            server_client(hub, c).disconnect(Close.SLOW_CONSUMER, "slow consumer", True)
            with pytest.raises(ConnectionLost) as info:
                await pending
            assert info.value.code == Close.SLOW_CONSUMER
            await wait_until(lambda: c.state is State.CONNECTED, what="reconnected")
            with pytest.raises(RequestTimeout):  # a new connection: its own request queue
                await c.request("slow", timeout=0.05)
    finally:
        release.set()


async def test_bad_token_is_refused_without_reconnect(hub: InProcessHub) -> None:
    states: list[State] = []
    c = Client(hub.ws_url, "not-a-jwt-token-at-all", on_state=lambda s: states.append(s.state))
    with pytest.raises(HubError) as info:
        await c.connect()
    assert info.value.code == 101
    assert c.state is State.CLOSED and c.last_close is not None and c.last_close[0] == 4001
    assert states == [State.CONNECTING, State.CLOSED]
    with pytest.raises(ClientClosed):
        await c.publish("chat:x", 1)


async def test_unreachable_hub_raises_connect_error() -> None:
    c = Client(f"ws://127.0.0.1:{free_port()}/ws", "t", connect_timeout=2.0)
    with pytest.raises(ConnectError):
        await c.connect()
    assert c.state is State.CLOSED


async def test_close_4001_does_not_reconnect(hub: InProcessHub) -> None:
    changes: list[StateChange] = []
    pushes: list[dict[str, Any]] = []
    tok = hub.token("m1", channels=grant("chat:k"))
    c = Client(hub.ws_url, tok, backoff=FAST, on_state=changes.append, on_push=pushes.append)
    await c.connect()
    try:
        sub = await c.subscribe("chat:k")
        total = hub.runtime.node.stats.connections_total
        server_client(hub, c).disconnect(Close.UNAUTHORIZED, "token revoked", False)
        await wait_until(lambda: c.state is State.CLOSED, what="closed")
        assert c.last_close == (4001, "token revoked")
        assert pushes == [
            {"push": "disconnect", "code": 4001, "reason": "token revoked", "reconnect": False}
        ]
        assert [ch.state for ch in changes] == [State.CONNECTING, State.CONNECTED, State.CLOSED]
        assert changes[-1].code == 4001
        assert [i async for i in sub] == []  # iteration ends
        assert sub.ended is not None and sub.ended.cause is EndCause.CLOSED
        assert hub.runtime.node.stats.connections_total == total
        with pytest.raises(ClientClosed):
            await c.history("chat:k")
    finally:
        await c.close()


async def test_token_expired_reconnects_only_with_provider(hub: InProcessHub) -> None:
    calls: list[str] = []

    async def provider() -> str:
        calls.append("called")
        return hub.token("m1")

    async with client(hub.ws_url, hub.token("m1"), token_provider=provider) as c:
        first = c.client_id
        server_client(hub, c).disconnect(Close.TOKEN_EXPIRED, "token expired", True)
        await wait_until(lambda: c.state is State.CONNECTED and c.client_id != first)
        assert calls == ["called"] and c.last_close == (4013, "token expired")
    async with client(hub.ws_url, hub.token("m1")) as c:
        server_client(hub, c).disconnect(Close.TOKEN_EXPIRED, "token expired", True)
        await wait_until(lambda: c.state is State.CLOSED, what="closed")
        assert c.last_close == (4013, "token expired")


async def test_server_unsubscribe_push_ends_the_subscription(hub: InProcessHub) -> None:
    async with client(hub.ws_url, hub.token("m1", channels=grant("chat:r"))) as c:
        sub = await c.subscribe("chat:r")
        assert hub.runtime.node.revoke("m1", "chat:r", "removed from the group") == 1
        async with asyncio.timeout(5):
            assert [i async for i in sub] == []
        assert sub.ended is not None
        assert (sub.ended.cause, sub.ended.reason) == (EndCause.REVOKED, "removed from the group")
        assert "chat:r" not in c.subscriptions()
        await c.subscribe("chat:r")  # subscribing again is allowed


async def test_unsubscribe_ends_iteration(hub: InProcessHub) -> None:
    async with client(hub.ws_url, hub.token("m1", channels=grant("chat:u"))) as c:
        sub = await c.subscribe("chat:u")
        await c.publish("chat:u", 1)
        await wait_until(lambda: sub.pending() == 1)
        await sub.unsubscribe()
        assert offsets([i async for i in sub]) == [1]  # what was received is still handed out
        assert sub.ended is not None and sub.ended.cause is EndCause.UNSUBSCRIBED


# -- the personal channel --------------------------------------------------------------------
async def test_personal_channel_and_its_recovery(hub: InProcessHub) -> None:
    async with proxy_to(hub.port) as proxy, client(proxy.url, hub.token("m1")) as c:
        personal = c.personal
        assert personal.channel == "member:m1" and personal.server_side
        notice = {"kind": "notice", "notice": {"id": "n1", "title": "t"}}
        await api_publish(hub.http_url, hub.api_key, "member:m1", notice)
        got = await next_item(personal)
        assert isinstance(got, Message) and got.data == notice and got.from_ is None

        proxy.blocked = True
        proxy.cut()
        await wait_until(lambda: c.state is State.RECONNECTING, what="reconnecting")
        for i in range(2, 6):
            await api_publish(hub.http_url, hub.api_key, "member:m1", i)
        proxy.blocked = False
        await wait_until(lambda: c.state is State.CONNECTED, what="reconnected")
        assert c.personal is personal
        await api_publish(hub.http_url, hub.api_key, "member:m1", 6)
        assert offsets(await take(personal, 5)) == [2, 3, 4, 5, 6]
        assert c.last_close is not None and c.last_close[0] == 1006


# -- reconnect and recovery ------------------------------------------------------------------
async def test_reconnect_recovers_missed_messages_once_in_order(hub: InProcessHub) -> None:
    tok = hub.token("m1", channels=grant("chat:rc"))
    async with proxy_to(hub.port) as proxy, client(proxy.url, tok) as c:
        sub = await c.subscribe("chat:rc")
        for i in range(1, 6):
            await c.publish("chat:rc", i)
        assert offsets(await take(sub, 2)) == [1, 2]  # 3..5 received but not handed yet
        await wait_until(lambda: sub.pending() == 3)
        proxy.blocked = True
        server_client(hub, c).disconnect(Close.SLOW_CONSUMER, "slow consumer", True)
        await wait_until(lambda: c.state is State.RECONNECTING, what="reconnecting")
        assert c.last_close == (4010, "slow consumer")
        for i in range(6, 9):
            await api_publish(hub.http_url, hub.api_key, "chat:rc", i)
        proxy.blocked = False
        await wait_until(lambda: c.state is State.CONNECTED, what="reconnected")
        await c.publish("chat:rc", 9)
        assert offsets(await take(sub, 7)) == [3, 4, 5, 6, 7, 8, 9]
        assert sub.pending() == 0 and sub.offset == 9


async def test_reconnect_fills_a_gap_past_the_window_from_history(tmp_path: Path) -> None:
    async with running_hub(tmp_path / "data", history_size=3) as hub:
        tok = hub.token("m1", channels=grant("chat:gap"))
        async with proxy_to(hub.port) as proxy, client(proxy.url, tok) as c:
            sub = await c.subscribe("chat:gap")
            await c.publish("chat:gap", 1)
            assert offsets(await take(sub, 1)) == [1]
            proxy.blocked = True
            proxy.cut()
            await wait_until(lambda: c.state is State.RECONNECTING, what="reconnecting")
            for i in range(2, 1200):  # more than the window and than one history page
                await hub.runtime.node.publish(None, "chat:gap", i, None)
            proxy.blocked = False
            await wait_until(lambda: c.state is State.CONNECTED, what="reconnected")
            await c.publish("chat:gap", 1200)
            items = await take(sub, 1199)
            assert offsets(items) == list(range(2, 1201))
            assert [m.data for m in items if isinstance(m, Message)] == list(range(2, 1201))


async def test_subscribe_since_a_stale_epoch_yields_reset(hub: InProcessHub) -> None:
    async with client(hub.ws_url, hub.token("m1", channels=grant("chat:e", "chat:e2"))) as c:
        top = await c.publish("chat:e", 1)
        sub = await c.subscribe("chat:e", since=Position(5, "an-old-epoch"))
        reset = await next_item(sub)
        assert isinstance(reset, Reset)
        assert reset.previous == Position(5, "an-old-epoch") and reset.position == top
        assert sub.position == top
        await c.publish("chat:e", 2)
        assert offsets(await take(sub, 1)) == [2]
        since = await c.subscribe("chat:e2", since=Position(0, top.epoch))
        assert since.position == Position(0, top.epoch)


async def _start(p: HubProcess) -> None:
    await asyncio.to_thread(p.start)


async def _stop(p: HubProcess, sig: int) -> None:
    await asyncio.to_thread(p.stop, sig)


async def test_recovery_across_a_hub_restart(hub_process: HubProcess) -> None:
    await _start(hub_process)
    tok = hub_process.token("m1", channels=grant("chat:restart"))
    pub = hub_process.http_url, hub_process.api_key
    async with proxy_to(hub_process.port) as proxy, client(proxy.url, tok, codec="msgpack") as c:
        sub = await c.subscribe("chat:restart")
        for i in range(1, 4):
            await api_publish(*pub, "chat:restart", i)
        assert offsets(await take(sub, 3)) == [1, 2, 3]
        epoch = sub.epoch

        proxy.blocked = True
        await _stop(hub_process, signal.SIGTERM)
        await wait_until(lambda: c.state is State.RECONNECTING, what="reconnecting")
        assert c.last_close is not None and c.last_close[0] == 4012
        await _start(hub_process)  # same port, same data directory
        for i in range(4, 9):
            await api_publish(*pub, "chat:restart", i)
        proxy.blocked = False
        await wait_until(lambda: c.state is State.CONNECTED, timeout=10, what="reconnected")
        await api_publish(*pub, "chat:restart", 9)
        items = await take(sub, 6)
        assert offsets(items) == [4, 5, 6, 7, 8, 9]
        assert all(isinstance(m, Message) and m.epoch == epoch for m in items)
    await _stop(hub_process, signal.SIGTERM)


async def test_epoch_change_after_a_crash_yields_reset(hub_process: HubProcess) -> None:
    await _start(hub_process)
    tok = hub_process.token("m1", channels=grant("chat:crash"))
    pub = hub_process.http_url, hub_process.api_key
    async with proxy_to(hub_process.port) as proxy, client(proxy.url, tok) as c:
        sub = await c.subscribe("chat:crash")
        for i in range(1, 3):
            await api_publish(*pub, "chat:crash", i)
        assert offsets(await take(sub, 2)) == [1, 2]
        old = sub.position

        proxy.blocked = True
        await _stop(hub_process, signal.SIGKILL)
        await wait_until(lambda: c.state is State.RECONNECTING, what="reconnecting")
        await _start(hub_process)
        missed = await api_publish(*pub, "chat:crash", 3)
        assert missed.epoch != old.epoch  # by design: an unclean stop changes the epoch
        proxy.blocked = False
        await wait_until(lambda: c.state is State.CONNECTED, timeout=10, what="reconnected")
        after = await api_publish(*pub, "chat:crash", 4)
        reset, msg = await take(sub, 2)
        assert isinstance(reset, Reset)
        assert (reset.previous, reset.position) == (old, missed)
        assert isinstance(msg, Message) and msg.position == after and msg.data == 4
        assert sub.position == after
        personal = await next_item(c.personal)  # server-side channels are reset as well
        assert isinstance(personal, Reset)
        assert personal.position.epoch != personal.previous.epoch
    await _stop(hub_process, signal.SIGTERM)


# -- CLI -------------------------------------------------------------------------------------
async def _cli(hub: InProcessHub, token: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.client", "--url", hub.ws_url, "--token", token, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    async with asyncio.timeout(20):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _json_lines(text: str) -> list[Mapping[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


async def test_cli_publish_history_presence(hub: InProcessHub) -> None:
    tok = hub.token("cli", channels=grant("chat:cli"))
    rc, out, err = await _cli(
        hub, tok, "--msgpack", "publish", "chat:cli", '{"a": 1}', "--idem", "k"
    )
    assert rc == 0, err
    assert _json_lines(out)[0]["offset"] == 1
    rc, out, err = await _cli(hub, tok, "history", "chat:cli", "--limit", "5")
    assert rc == 0, err
    (page,) = _json_lines(out)
    assert [m["data"] for m in page["messages"]] == [{"a": 1}] and page["offset"] == 1
    rc, out, _ = await _cli(hub, tok, "presence", "chat:cli")
    assert rc == 0 and _json_lines(out) == [{}]
    rc, _, err = await _cli(hub, tok, "publish", "member:other", "1")
    assert rc == 1 and "103" in err
    rc, out, err = await _cli(hub, tok, "call", "ping")
    assert rc == 0 and _json_lines(out) == [{}], err
    rc, out, err = await _cli(hub, tok, "call", "history", '{"channel": "chat:cli", "limit": 1}')
    assert rc == 0 and _json_lines(out)[0]["messages"][0]["data"] == {"a": 1}, err
    rc, _, err = await _cli(hub, tok, "call", "receipt", '{"notice": "n", "state": "read"}')
    assert rc == 1 and "104" in err  # no domain in this hub: the op is not registered
    rc, _, err = await _cli(hub, tok, "call", "ping", "[1]")
    assert rc == 2 and "object" in err


async def test_cli_subscribe_prints_json_lines(hub: InProcessHub) -> None:
    tok = hub.token("cli", channels=grant("chat:s1", "chat:s2"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.client", "--url", hub.ws_url, "--token", tok,
        "subscribe", "chat:s1", "chat:s2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        presence = hub.runtime.node.presence

        async def subscribed() -> bool:
            return "cli" in await presence.get("chat:s1") and "cli" in await presence.get("chat:s2")

        await wait_until(subscribed, timeout=15, what="CLI subscribed")
        await api_publish(hub.http_url, hub.api_key, "chat:s2", {"x": "y"})
        assert proc.stdout is not None
        async with asyncio.timeout(5):
            line = await proc.stdout.readline()
        msg = orjson.loads(line)
        assert (msg["channel"], msg["offset"], msg["data"], msg["from"]) == (
            "chat:s2",
            1,
            {"x": "y"},
            None,
        )
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            _, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert b"connected" in err
