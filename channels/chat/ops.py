"""Group chat on the engine's channels: the ``read`` and ``unread`` ops, the
``unread`` field of the ``connect`` reply, and validation of group messages
on ``publish``.

* ``{"op": "read", "channel": C, "offset": N}`` → ``{"channel", "offset"}``: the
  member's marker moves up to ``N`` (clamped to the channel's top; never back).
  Every connection of the member, on every node, gets
  ``{"push": "read", "channel", "offset", "client"}`` (``client``: the connection
  that read; it may ignore its own).
* ``{"op": "unread"}`` (optional ``channels``: list) → ``{"unread": {channel: n}}``
  for the member's groups (or the given channels it may subscribe).
* ``connect`` replies carry ``unread`` for the member's groups.
* A member added to a group (API, CSV import, on a re-join too) starts with the
  marker at the group channel's top then: only messages after the join are unread.
* ``publish`` to ``group:``: the group policy checks the data with
  :func:`~channels.chat.messages.validate_group_message` (the engine's
  ``validate_data`` hook) and, through the engine's publish hook, the sender's
  marker moves to the new offset (what one writes, one has read).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from channels.chat.markers import ReadMarkers
from hub.auth import Identity
from hub.core.node import Node
from hub.core.session import Session
from hub.core.types import PublishResult
from hub.protocol.errors import Code, HubError
from hub.protocol.names import namespace_of, validate_channel
from hub.protocol.requests import Request

__all__ = ["ChatOps", "GroupsOf"]

GroupsOf = Callable[[str], Awaitable[list[str]]]
_MAX_CHANNELS = 256


def _v_read(f: Mapping[str, Any]) -> dict[str, Any]:
    if "channel" not in f:
        raise HubError(Code.BAD_REQUEST, "'channel' is required")
    channel = validate_channel(f["channel"])
    offset = f.get("offset")
    if type(offset) is not int or offset < 0:
        raise HubError(Code.BAD_REQUEST, "'offset' must be an integer >= 0")
    return {"channel": channel, "offset": offset}


def _v_unread(f: Mapping[str, Any]) -> dict[str, Any]:
    raw = f.get("channels")
    if raw is None:
        return {"channels": None}
    if not isinstance(raw, list) or len(raw) > _MAX_CHANNELS:
        raise HubError(Code.BAD_REQUEST, f"'channels' must be a list of at most {_MAX_CHANNELS}")
    return {"channels": [validate_channel(c) for c in raw]}


class ChatOps:
    def __init__(self, node: Node, markers: ReadMarkers, groups_of: GroupsOf) -> None:
        self.node = node
        self.markers = markers
        self.groups_of = groups_of

    def install(self) -> None:
        d = self.node.dispatcher
        d.register("read", _v_read, self._read)
        d.register("unread", _v_unread, self._unread)
        self.node.connect_hooks.append(self._on_connect)
        self.node.publish_hooks.append(self._published)

    async def unread(self, member: str, channels: list[str] | None = None) -> dict[str, int]:
        """Unread messages per channel: top offset minus the member's marker."""
        if channels is None:
            channels = [f"group:{g}" for g in await self.groups_of(member)]
        marks = await self.markers.of(member, channels)
        out: dict[str, int] = {}
        for channel in channels:
            top = (await self.node.broker.position(channel)).offset
            out[channel] = max(0, top - marks.get(channel, 0))
        return out

    async def joined(self, group: str, members: set[str]) -> None:
        """Members just added to ``group``: their unread count starts at the join
        (their marker is the channel's top now), on a re-join too."""
        channel = f"group:{group}"
        joined_at = int(time.time() * 1000)  # before the top: a read after it is kept
        top = (await self.node.broker.position(channel)).offset
        await self.markers.start_at(members, channel, top, joined_at)

    async def mark(self, member: str, channel: str, offset: int, client: str | None) -> int:
        stored = await self.markers.mark(member, channel, offset)
        push = {"push": "read", "channel": channel, "offset": stored, "client": client}
        await self.node.broker.publish_control(f"member:{member}", push)
        return stored

    async def _on_connect(self, client: Session) -> dict[str, Any] | None:
        member = client.member
        if member is None:
            return None
        return {"unread": await self.unread(member)}

    async def _read(self, client: Session, req: Request) -> dict[str, Any]:
        identity = client.identity
        assert identity is not None
        channel, offset = req.args["channel"], req.args["offset"]
        await self.node.authorizer.check_subscribe(identity, channel)
        top = (await self.node.broker.position(channel)).offset
        stored = await self.mark(identity.member, channel, min(offset, top), client.id)
        return {"channel": channel, "offset": stored}

    async def _unread(self, client: Session, req: Request) -> dict[str, Any]:
        identity = client.identity
        assert identity is not None
        channels: list[str] | None = req.args["channels"]
        if channels is not None:
            for channel in channels:
                await self.node.authorizer.check_subscribe(identity, channel)
        return {"unread": await self.unread(identity.member, channels)}

    def _published(self, identity: Identity | None, channel: str, res: PublishResult) -> None:
        """A member's own message in a group counts as read by them."""
        if identity is not None and namespace_of(channel) == "group":
            self.node.spawn(self.mark(identity.member, channel, res.offset, None))
