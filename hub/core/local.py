"""This process's side of channels: the local subscribers of each channel, the
member index (member → its sessions here) and the encode-once fan-out.

Fan-out encodes a publication once per codec (:meth:`Publication.frame`) and
queues the same bytes on every local subscriber without awaiting; the outbox
writes each session's frames of one loop turn at once. Subscribing, presence and
the broker are the node's business: this module only keeps the indexes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hub.core.session import Session
from hub.core.stats import Stats
from hub.core.types import Publication
from hub.protocol.codec import JSON, MSGPACK
from hub.protocol.websocket import binary_frame, text_frame

__all__ = ["Local", "LocalChannel"]


class LocalChannel:
    """The local subscribers of one channel.

    A channel with one subscriber (every personal ``member:`` channel) keeps it in
    ``one``; from the second on they live in one set per codec, so that fan-out is a
    plain loop with no per-subscriber branch. ``pending`` buffers publications for
    sessions whose subscribe is still reading their position."""

    __slots__ = ("json", "msgpack", "one", "pending", "ready")

    def __init__(self) -> None:
        self.one: Session | None = None  # set only while both sets are empty
        self.json: set[Session] | None = None
        self.msgpack: set[Session] | None = None
        self.pending: dict[Session, list[Publication]] | None = None
        self.ready: asyncio.Future[None] | None = None

    def add(self, client: Session) -> None:
        if self.one is None and not self.json and not self.msgpack:
            self.one = client
            return
        if self.one is not None:
            first, self.one = self.one, None
            self._add(first)
        self._add(client)

    def _add(self, client: Session) -> None:
        if client.codec.binary:
            if self.msgpack is None:
                self.msgpack = set()
            self.msgpack.add(client)
        else:
            if self.json is None:
                self.json = set()
            self.json.add(client)

    def discard(self, client: Session) -> None:
        if self.one is client:
            self.one = None
            return
        if self.json:
            self.json.discard(client)
        if self.msgpack:
            self.msgpack.discard(client)

    def empty(self) -> bool:
        return self.one is None and not self.json and not self.msgpack and not self.pending

    def __len__(self) -> int:
        if self.one is not None:
            return 1
        return (len(self.json) if self.json else 0) + (len(self.msgpack) if self.msgpack else 0)


class Local:
    """The channels with local subscribers, and the member index."""

    __slots__ = ("channels", "members", "stats")

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.channels: dict[str, LocalChannel] = {}
        # member -> its session here (a dict of them when it has several)
        self.members: dict[str, Session | dict[Session, None]] = {}

    # -- fan-out -------------------------------------------------------------------
    def on_publication(self, pub: Publication) -> None:
        ch = self.channels.get(pub.channel)
        if ch is None:
            return
        if ch.pending:
            for buf in ch.pending.values():
                buf.append(pub)
        one = ch.one
        if one is not None:
            one.enqueue(pub.frame(one.codec))
            self.stats.deliveries += 1
            return
        subs = ch.json
        if subs:
            frame = pub.frame(JSON)
            for c in subs:
                c.enqueue(frame)
        subs = ch.msgpack
        if subs:
            frame = pub.frame(MSGPACK)
            for c in subs:
                c.enqueue(frame)
        self.stats.deliveries += len(ch)

    def broadcast(self, ch: LocalChannel, push: dict[str, Any]) -> None:
        one = ch.one
        if one is not None:
            one.send(push)
            return
        if ch.json:
            frame = text_frame(JSON.encode(push))
            for c in ch.json:
                c.enqueue(frame)
        if ch.msgpack:
            frame = binary_frame(MSGPACK.encode(push))
            for c in ch.msgpack:
                c.enqueue(frame)

    def leave(self, client: Session, channel: str, ch: LocalChannel | None) -> bool:
        """Take ``client`` out of ``channel``; True when the channel has no one left here
        (it is dropped; the caller unsubscribes it from the broker)."""
        client.subs.pop(channel, None)
        if ch is None:
            return False
        ch.discard(client)
        if ch.pending:
            ch.pending.pop(client, None)
            if not ch.pending:
                ch.pending = None
        if ch.empty() and ch.ready is None and self.channels.get(channel) is ch:
            del self.channels[channel]
            return True
        return False

    # -- member index -----------------------------------------------------------------
    def connections_of(self, member: str) -> list[Session]:
        """This process's authenticated connections of ``member``."""
        conns = self.members.get(member)
        if conns is None:
            return []
        return [conns] if isinstance(conns, Session) else list(conns)

    def add_member(self, member: str, client: Session) -> None:
        conns = self.members.get(member)
        if conns is None:
            self.members[member] = client
        elif isinstance(conns, Session):
            if conns is not client:
                self.members[member] = {conns: None, client: None}
        else:
            conns[client] = None

    def remove_member(self, member: str, client: Session) -> None:
        conns = self.members.get(member)
        if conns is client:
            del self.members[member]
        elif isinstance(conns, dict):
            conns.pop(client, None)
            if len(conns) == 1:
                self.members[member] = next(iter(conns))
