"""After its close frame the hub writes no data frame (RFC 6455 §5.5.1), on every
close path; a close the client provoked first answers the requests it sent before.

Every test reads the raw TCP stream to its end. A reply that comes late (a publish
waiting for the store, held here by a real SQLite write lock taken from outside)
reaches the wire after the close only while the transport still buffers output, so
the client does not read until the end: it is a slow reader with a full buffer."""

from __future__ import annotations

import asyncio
import sqlite3
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from hub.core.session import SessionState
from tests.support.hubs import InProcessHub, running_hub, wait_until
from tests.support.rawws import OP_CLOSE, OP_TEXT, Frame, RawWs, client_frame, data_after_close

ROOM = "chat:room"
GRANT = [{"channel": ROOM, "publish": True}]
BIG = "y" * 30000


class StoreLock:
    """Another process's write transaction on the hub's SQLite file: the hub's
    writes wait (busy timeout) until :meth:`release`."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()


def replies(frames: list[Frame]) -> dict[int, dict[str, Any]]:
    out = {}
    for f in frames:
        if f.opcode == OP_CLOSE:
            break
        if f.is_data:
            obj = f.json()
            if "id" in obj:
                out[obj["id"]] = obj
    return out


def last_data(frames: list[Frame]) -> dict[str, Any]:
    before = frames[: [f.opcode for f in frames].index(OP_CLOSE)]
    data = [f for f in before if f.is_data]
    result: dict[str, Any] = data[-1].json()
    return result


def close_code(frames: list[Frame]) -> int | None:
    return next(f.close_code for f in frames if f.opcode == OP_CLOSE)


# close path -> (close code, whether a disconnect push precedes the close frame,
#                whether the hub answers the requests read before the close)
PATHS = {
    "slow consumer": (4010, True, False),
    "rate limit flood": (4029, True, True),
    "malformed flood": (4008, True, True),
    "protocol error": (1002, False, True),
    "peer close": (1000, False, True),
    "shutdown": (4012, True, False),
    "token expiry": (4013, True, False),
}


@pytest.mark.parametrize("path", list(PATHS))
async def test_no_data_frame_follows_the_close_frame(tmp_path: Path, path: str) -> None:
    code, pushed, answered = PATHS[path]
    overrides: dict[str, Any] = {
        "client_queue_max": (64 << 10) if path == "slow consumer" else (64 << 20)
    }
    if path == "rate limit flood":
        overrides.update(rate_limit=1, rate_burst=5)
    async with running_hub(tmp_path / "d", **overrides) as h:
        for i in range(100):  # ~3 MB of history: one history reply fills the buffers
            status, _ = await h.api("POST", "/api/publish", {"channel": ROOM, "data": [i, BIG]})
            assert status == 200
        node = h.runtime.node
        claims: dict[str, Any] = {"channels": GRANT}
        if path == "token expiry":
            claims["exp"] = int(time.time()) + 2
        raw = RawWs(h.port, h.token("m1", **claims), rcvbuf=4096)
        (c,) = await wait_until(lambda: node.connections_of("m1"), what="authenticated")
        publish = RawWs.request(1, "publish", channel=ROOM, data="late")
        history = RawWs.request(2, "history", channel=ROOM, limit=100)
        lock = StoreLock(h.runtime.store.path)  # type: ignore[attr-defined]
        stop: asyncio.Task[None] | None = None
        try:
            if path == "slow consumer":
                raw.send(publish, history)  # the history reply makes it a slow consumer
            else:
                raw.send(history)
                await wait_until(
                    lambda: c.transport is not None and c.transport.get_write_buffer_size() > 0,
                    what="output buffered",
                )
                raw.send(publish)
            await wait_until(lambda: node.stats.messages_in > 100, what="publish in flight")
            if path == "rate limit flood":
                raw.send(*[RawWs.request(10 + i, "ping") for i in range(20)])
            elif path == "malformed flood":
                raw.send(*[client_frame(OP_TEXT, b"garbage")] * 60)
            elif path == "protocol error":
                raw.send(client_frame(OP_TEXT, b'{"id": 9, "op": "ping"}', masked=False))
            elif path == "peer close":
                raw.send(client_frame(OP_CLOSE, struct.pack("!H", 1000)))
            elif path == "shutdown":
                stop = asyncio.create_task(h.runtime.stop())
            await wait_until(
                lambda: c.state >= SessionState.CLOSING or getattr(c, "ending", None) is not None,
                timeout=10,
                what="the close decided",
            )
        finally:
            lock.release()  # the publish commits: its reply is due now
        await wait_until(  # committed, and whatever it queued was flushed
            lambda: node.stats.latency_count > 100 and node._flush_handle is None,
            timeout=10,
            what="the publish committed",
        )
        _, frames = await raw.read_to_end()
        if stop is not None:
            await stop
    assert not data_after_close(frames), [f.payload[:80] for f in data_after_close(frames)]
    assert frames[-1].opcode == OP_CLOSE
    assert close_code(frames) == code
    if pushed:
        d = last_data(frames)
        assert d["push"] == "disconnect" and d["code"] == code, d
    if answered:
        got = replies(frames)
        assert got[1]["ok"] and got[2]["ok"], got.get(1)


def _oversized(h: InProcessHub) -> bytes:
    return client_frame(OP_TEXT, b" " * (h.runtime.settings.max_frame_size + 1))


# violation -> (frames, close code)
VIOLATIONS = {
    "unmasked frame": (lambda h: client_frame(OP_TEXT, b"{}", masked=False), 1002),
    "reserved opcode": (lambda h: client_frame(0x3, b""), 1002),
    "frame too large": (_oversized, 1009),
    "peer close": (lambda h: client_frame(OP_CLOSE, struct.pack("!H", 1000)), 1000),
}


@pytest.mark.parametrize("violation", list(VIOLATIONS))
async def test_requests_before_a_violation_are_answered_then_closed(
    tmp_path: Path, violation: str
) -> None:
    make, code = VIOLATIONS[violation]
    async with running_hub(tmp_path / "d", max_frame_size=4096) as h:
        raw = RawWs(h.port, h.token("m1", channels=GRANT))
        await wait_until(lambda: h.runtime.node.connections_of("m1"), what="authenticated")
        raw.send(
            RawWs.request(1, "publish", channel=ROOM, data="one"),
            RawWs.request(2, "publish", channel=ROOM, data="two"),
            RawWs.request(3, "ping"),
            make(h),
        )
        _, frames = await raw.read_to_end()
        status, body = await h.api("GET", f"/api/channels/{ROOM}/history")
    got = replies(frames)
    assert sorted(got) == [1, 2, 3], [f.payload[:80] for f in frames]
    assert all(r["ok"] for r in got.values()), got
    assert (got[1]["offset"], got[2]["offset"]) == (1, 2)
    assert not data_after_close(frames)
    assert frames[-1].opcode == OP_CLOSE and close_code(frames) == code
    assert status == 200 and [m["data"] for m in body["messages"]] == ["one", "two"]
