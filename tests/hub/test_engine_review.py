"""Races of the engine's core found in review: each test failed before its fix."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hub.brokers.memory import MemoryPresence
from hub.core.node import CONNECTS_IN_FLIGHT
from hub.core.session import Session
from hub.core.types import Position
from tests.support.hubs import running_hub, wait_until
from tests.support.ws import open_ws


async def test_connection_closed_while_queued_for_a_connect_slot_is_not_kept(
    tmp_path: Path,
) -> None:
    """A connection that closes while its authentication waits for a connect slot must
    not come back to life as an authenticated client once a slot frees up."""
    async with running_hub(tmp_path / "data") as hub:
        node = hub.runtime.node
        for _ in range(CONNECTS_IN_FLIGHT):  # every slot busy: the next connect queues
            await node._connect_slots.acquire()
        ws = await open_ws(hub.ws_url, hub.token("m-q"), via_query=True)
        await wait_until(lambda: node.connections == 1, what="the connection")
        await ws.close()
        await wait_until(lambda: node.connections == 0, what="the close")
        for _ in range(CONNECTS_IN_FLIGHT):
            node._connect_slots.release()
        await wait_until(lambda: not node._tasks, what="the queued authentication")
        assert node.clients == {}
        assert node.connections_of("m-q") == []
        assert "member:m-q" not in node.channels
        assert await node.presence.get("member:m-q") == {}


class GatedPresence(MemoryPresence):
    """Memory presence whose ``add`` waits for the test (as a networked one may)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def add(self, channel: str, member: str, client: str) -> bool:
        gate = self.gate
        if gate is not None:
            self.entered.set()
            await gate.wait()
        return await super().add(channel, member, client)


async def test_client_closing_while_presence_is_added_leaves_no_presence(
    tmp_path: Path,
) -> None:
    async with running_hub(tmp_path / "data", namespaces="chat") as hub:
        node = hub.runtime.node
        presence = GatedPresence()
        node.presence = presence
        watcher = await open_ws(hub.ws_url, hub.token("m-w"))
        await watcher.ok("subscribe", channel="chat:p")
        await watcher.push("join", member="m-w")
        leaver = await open_ws(hub.ws_url, hub.token("m-l"))
        presence.gate = asyncio.Event()
        rid = await leaver.send("subscribe", channel="chat:p")
        await asyncio.wait_for(presence.entered.wait(), 5)
        await leaver.close()
        await wait_until(lambda: node.connections == 1, what="the close")
        await wait_until(lambda: len(node._tasks) <= 1, what="the leave bookkeeping")
        presence.gate.set()
        await wait_until(lambda: not node._tasks, what="the subscribe")
        assert rid not in leaver.replies
        assert await presence.get("chat:p") == {"m-w": 1}
        # the watcher never sees a join for a member who is gone
        assert await watcher.call("ping")
        about = [p["push"] for p in watcher.pushes if p.get("member") == "m-l"]
        assert about[-1:] in ([], ["leave"]), about


async def test_publication_during_presence_add_follows_the_subscribe_reply(
    tmp_path: Path,
) -> None:
    """The live stream starts after the subscribe reply, even when presence is slow."""
    async with running_hub(tmp_path / "data", namespaces="chat") as hub:
        node = hub.runtime.node
        presence = GatedPresence()
        node.presence = presence
        c = await open_ws(hub.ws_url, hub.token("m-o"))
        presence.gate = asyncio.Event()
        rid = await c.send("subscribe", channel="chat:o")
        await asyncio.wait_for(presence.entered.wait(), 5)
        await node.publish(None, "chat:o", {"n": 1}, None)
        presence.gate.set()
        first = await c._read_one(5)
        assert first.get("id") == rid and first["ok"] is True, first
        assert first["offset"] == 0
        msg = await c.push("message", channel="chat:o")
        assert msg["offset"] == 1


async def test_server_channel_publications_during_connect_follow_the_reply_in_order(
    tmp_path: Path,
) -> None:
    """Publications on a server-side channel while a connect is still running (its
    position read, then the connect hooks) all follow the connect reply, in order."""
    async with running_hub(tmp_path / "data") as hub:
        node = hub.runtime.node
        broker = node.broker
        read_position = broker.position
        position_gate, hook_gate = asyncio.Event(), asyncio.Event()
        in_position, in_hook = asyncio.Event(), asyncio.Event()

        async def gated_position(channel: str) -> Position:
            pos = await read_position(channel)
            if channel == "member:m-c":
                in_position.set()
                await position_gate.wait()
            return pos

        async def gated_hook(client: Session) -> dict[str, Any] | None:
            if client.member == "m-c":
                in_hook.set()
                await hook_gate.wait()
            return None

        broker.position = gated_position  # type: ignore[method-assign]
        node.connect_hooks.append(gated_hook)
        ws = await open_ws(hub.ws_url)
        rid = await ws.send("connect", token=hub.token("m-c"))
        await asyncio.wait_for(in_position.wait(), 5)
        await node.publish(None, "member:m-c", {"n": 1}, None)  # held: position being read
        position_gate.set()
        await asyncio.wait_for(in_hook.wait(), 5)
        await node.publish(None, "member:m-c", {"n": 2}, None)  # during the connect hook
        hook_gate.set()
        frames = [await ws._read_one(5) for _ in range(3)]
        seen = [("reply", f["id"]) if "id" in f else (f["push"], f["offset"]) for f in frames]
        assert seen == [("reply", rid), ("message", 1), ("message", 2)], frames
        assert frames[0]["subs"]["member:m-c"]["offset"] == 0
