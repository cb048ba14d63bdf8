"""The outbox without sockets: one write per session per loop turn, the one-turn
wait for requests just read, the slow-consumer cut (4010) and the closing rule."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from hub.core.session import SessionState
from hub.protocol.errors import Close
from hub.protocol.websocket import text_frame
from tests.hub.core.engine import core_node, open_session
from tests.support.hubs import wait_until


def _frame(n: int) -> bytes:
    return text_frame(orjson.dumps({"push": "test", "n": n}))


async def test_frames_of_one_turn_leave_in_one_write(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        s, t = open_session(node, "m1")
        frames = [_frame(i) for i in range(3)]
        for f in frames:
            s.enqueue(f)
        assert t.writes == []  # queued, not written, until the loop turn ends
        assert node.outbox.handle is not None
        await wait_until(lambda: node.outbox.handle is None, what="the flush")
        assert t.writes == [b"".join(frames)]


async def test_every_session_gets_one_write_per_turn(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        sessions = [open_session(node, f"m{i}") for i in range(3)]
        for turn in range(2):
            for s, _ in sessions:
                s.enqueue(_frame(turn))
                s.enqueue(_frame(turn + 10))
            await wait_until(lambda: node.outbox.handle is None, what="the flush")
            for _, t in sessions:
                assert len(t.writes) == turn + 1
                assert [p["n"] for p in t.pushes()][-2:] == [turn, turn + 10]


async def test_the_flush_waits_one_turn_for_requests_read_in_this_turn(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        s, t = open_session(node, "m1")
        node.outbox.starting = 1  # a request task created in this turn, not yet started
        s.enqueue(_frame(1))
        await asyncio.sleep(0)  # one loop turn: the flush defers itself once
        assert t.writes == []
        assert node.outbox.handle is not None
        await asyncio.sleep(0)  # the next turn writes, whether or not the task started
        assert t.writes == [_frame(1)]
        assert node.outbox.handle is None
        node.outbox.starting = 0


async def test_a_slow_consumer_is_cut_with_4010_after_the_others_are_written(
    tmp_path: Path,
) -> None:
    async with core_node(tmp_path, client_queue_max=1000) as node:
        slow, slow_t = open_session(node, "slow", buffered=1001)
        fast, fast_t = open_session(node, "fast", buffered=1000)  # at the limit: kept
        for s in (slow, fast):
            s.enqueue(_frame(1))
        node.outbox.flush()
        assert fast_t.writes == [_frame(1)]
        assert not fast_t.closed and fast.state == SessionState.OPEN
        assert slow_t.after_close == []
        assert slow_t.closed and slow.state == SessionState.CLOSING
        assert slow_t.pushes() == [
            {"push": "test", "n": 1},
            {
                "push": "disconnect",
                "code": Close.SLOW_CONSUMER,
                "reason": "slow consumer",
                "reconnect": True,
            },
        ]
        assert node.stats.slow_consumers == 1
        assert node.connections_of("slow") == [] and node.connections_of("fast") == [fast]


async def test_nothing_is_queued_after_the_disconnect(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        s, t = open_session(node, "m1")
        s.enqueue(_frame(1))
        s.disconnect(Close.GOING_AWAY, "bye", False)
        # what was queued leaves first, with the disconnect push, in one write, at once
        assert len(t.writes) == 1 and t.closed
        assert [p.get("push") for p in t.pushes()] == ["test", "disconnect"]
        s.enqueue(_frame(2))
        s.send({"push": "late"})
        s.reply(7)
        await wait_until(lambda: node.outbox.handle is None, what="the flush")
        assert len(t.writes) == 1 and t.after_close == []


async def test_frames_for_a_gone_transport_are_dropped(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        s, t = open_session(node, "m1")
        s.enqueue(_frame(1))
        s.closed()  # the transport went away before the flush
        s.enqueue(_frame(2))
        node.outbox.flush()
        assert t.writes == []
        assert s.state == SessionState.CLOSED
