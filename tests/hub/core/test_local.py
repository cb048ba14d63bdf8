"""Local channels without sockets: the fan-out encodes a publication once per codec
and queues the same bytes on every subscriber; the one-subscriber slot; pending
subscribers; dropping an empty channel; the member index."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgpack

from hub.core.local import LocalChannel
from hub.core.types import Publication
from hub.protocol.codec import MSGPACK
from tests.hub.core.engine import core_node, open_session
from tests.support.rawws import OP_BINARY, OP_TEXT


class CountingPublication(Publication):
    """Counts how often its push is built (once per encoding)."""

    encodings = 0

    def push(self) -> dict[str, Any]:
        CountingPublication.encodings += 1
        return super().push()


def _pub(channel: str, offset: int) -> CountingPublication:
    return CountingPublication(channel, offset, "e1", 0, "m0", {"n": offset})


async def test_fan_out_encodes_once_per_codec(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        ch = node.channels["room:a"] = LocalChannel()
        json_side = [open_session(node, f"j{i}") for i in range(3)]
        binary_side = [open_session(node, f"b{i}", MSGPACK) for i in range(2)]
        for s, _ in json_side + binary_side:
            s.subs["room:a"] = None
            ch.add(s)
        CountingPublication.encodings = 0
        before = node.stats.deliveries
        node.on_publication(_pub("room:a", 1))
        assert CountingPublication.encodings == 2  # one JSON, one MessagePack: not five
        assert node.stats.deliveries - before == 5
        node.outbox.flush()
        json_frames = [t.frames() for _, t in json_side]
        binary_frames = [t.frames() for _, t in binary_side]
        assert all(f == json_frames[0] for f in json_frames)
        assert all(f == binary_frames[0] for f in binary_frames)
        (jf,) = json_frames[0]
        (bf,) = binary_frames[0]
        assert jf.opcode == OP_TEXT and bf.opcode == OP_BINARY
        assert jf.json() == msgpack.unpackb(bf.payload) == _pub("room:a", 1).push()


async def test_a_publication_for_no_local_channel_costs_nothing(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        CountingPublication.encodings = 0
        node.on_publication(_pub("room:nobody", 1))
        assert CountingPublication.encodings == 0
        assert node.outbox.handle is None


async def test_one_subscriber_slot_then_sets_then_back(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        ch = node.channels["room:a"] = LocalChannel()
        (s1, t1), (s2, t2) = open_session(node, "m1"), open_session(node, "m2", MSGPACK)
        ch.add(s1)
        assert ch.one is s1 and len(ch) == 1
        ch.add(s2)
        assert ch.one is None and ch.json == {s1} and ch.msgpack == {s2} and len(ch) == 2
        ch.discard(s1)
        assert len(ch) == 1 and not ch.empty()
        node.on_publication(_pub("room:a", 1))
        node.outbox.flush()
        assert t1.writes == [] and len(t2.frames()) == 1
        ch.discard(s2)
        assert ch.empty() and len(ch) == 0


async def test_subscribers_still_reading_their_position_get_the_publications_held(
    tmp_path: Path,
) -> None:
    async with core_node(tmp_path) as node:
        ch = node.channels["room:a"] = LocalChannel()
        (live, live_t), (waiting, waiting_t) = open_session(node, "m1"), open_session(node, "m2")
        ch.add(live)
        held: list[Publication] = []
        ch.pending = {waiting: held}
        pubs = [_pub("room:a", 1), _pub("room:a", 2)]
        for p in pubs:
            node.on_publication(p)
        node.outbox.flush()
        assert held == pubs
        assert [p["offset"] for p in live_t.pushes()] == [1, 2]
        assert waiting_t.writes == []


async def test_the_last_to_leave_drops_the_channel(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        local = node.local
        ch = local.channels["room:a"] = LocalChannel()
        (s1, _), (s2, _) = open_session(node, "m1"), open_session(node, "m2")
        for s in (s1, s2):
            s.subs["room:a"] = None
            ch.add(s)
        assert local.leave(s1, "room:a", ch) is False
        assert "room:a" not in s1.subs and "room:a" in local.channels
        ch.ready = asyncio.get_running_loop().create_future()  # a subscribe in flight
        assert local.leave(s2, "room:a", ch) is False  # kept for the subscribe under way
        assert local.channels["room:a"] is ch
        ch.ready = None
        assert local.leave(s2, "room:a", ch) is True
        assert "room:a" not in local.channels
        assert local.leave(s2, "room:a", None) is False  # already gone: nothing to do


async def test_the_member_index(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        local = node.local
        a1, _ = open_session(node)
        a2, _ = open_session(node)
        assert local.connections_of("alice") == []
        local.add_member("alice", a1)
        local.add_member("alice", a1)  # twice: still one
        assert local.connections_of("alice") == [a1]
        assert local.members["alice"] is a1  # one connection: no dict
        local.add_member("alice", a2)
        assert local.connections_of("alice") == [a1, a2]
        local.remove_member("alice", a1)
        assert local.members["alice"] is a2  # back to the single slot
        local.remove_member("alice", a1)  # not there: no change
        assert local.connections_of("alice") == [a2]
        local.remove_member("alice", a2)
        assert "alice" not in local.members and local.connections_of("alice") == []


async def test_a_control_push_reaches_the_subscribers_of_both_codecs(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        ch = LocalChannel()
        sessions = [open_session(node, f"m{i}") for i in range(3)]
        binary = open_session(node, "b", MSGPACK)
        for s, _ in [*sessions, binary]:
            ch.add(s)
        push = {"push": "join", "channel": "room:a", "member": "m9"}
        node.local.broadcast(ch, push)
        node.outbox.flush()
        for _, t in sessions:
            assert t.pushes() == [push]
        (bf,) = binary[1].frames()
        assert msgpack.unpackb(bf.payload) == push
