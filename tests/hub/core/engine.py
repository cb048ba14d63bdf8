"""The engine core without sockets: a real node (memory broker over SQLite, real
authorizer and token verifier) whose sessions write to :class:`RecordingTransport`,
the transport seam (what an asyncio transport offers a session)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hub.auth import Identity, TokenVerifier
from hub.brokers.memory import MemoryBroker, MemoryPresence
from hub.core.authz import Authorizer
from hub.core.node import Node
from hub.core.ops import Ops
from hub.core.session import Session, SessionState
from hub.protocol.codec import JSON, Codec
from hub.store.sqlite import SqliteStore
from tests.support.hubs import hub_settings
from tests.support.rawws import Frame, parse_server_frames


class RecordingTransport:
    """Records every write; reports ``buffered`` bytes as its write buffer."""

    def __init__(self, buffered: int = 0) -> None:
        self.writes: list[bytes] = []
        self.after_close: list[bytes] = []  # writes the transport got once closed
        self.buffered = buffered
        self.closed = False

    def write(self, data: bytes) -> None:
        (self.after_close if self.closed else self.writes).append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def frames(self) -> list[Frame]:
        return parse_server_frames(b"".join(self.writes))

    def pushes(self) -> list[dict[str, Any]]:
        return [f.json() for f in self.frames() if f.is_data]


@contextlib.asynccontextmanager
async def core_node(tmp_path: Path, **overrides: Any) -> AsyncIterator[Node]:
    settings = hub_settings(tmp_path, **overrides)
    store = SqliteStore(str(tmp_path / "hub.db"))
    await store.open()
    node = Node(
        settings,
        MemoryBroker(store),
        MemoryPresence(),
        Authorizer(["room"]),
        TokenVerifier(settings.token_secret),
    )
    Ops(node)
    await node.start()
    try:
        yield node
    finally:
        await node.shutdown(deadline=1.0)
        await store.close()


def open_session(
    node: Node, member: str | None = None, codec: Codec = JSON, buffered: int = 0
) -> tuple[Session, RecordingTransport]:
    """A session on a recording transport; with ``member``, authenticated as it
    without server-side channels (as after ``connect``)."""
    t = RecordingTransport(buffered)
    s = Session(node, t, codec)
    if member is not None:
        s.identity = Identity(member)
        s.state = SessionState.OPEN
        node.clients[s.id] = s
        node.local.add_member(member, s)
    return s, t
