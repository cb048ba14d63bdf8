"""Values that cross the engine's seams: publications, stream positions, history pages."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from hub.protocol.codec import JSON, MSGPACK, Codec
from hub.protocol.websocket import binary_frame, text_frame

__all__ = ["HistoryPage", "Position", "Publication", "PublishResult", "Recovery", "SessionState"]


class Publication:
    """One message of a channel at an offset. Its wire frames are built once, on demand."""

    __slots__ = ("_frames", "channel", "data", "epoch", "from_", "offset", "ts")

    def __init__(
        self, channel: str, offset: int, epoch: str, ts: int, from_: str | None, data: Any
    ) -> None:
        self.channel = channel
        self.offset = offset
        self.epoch = epoch
        self.ts = ts
        self.from_ = from_
        self.data = data
        self._frames: list[bytes | None] | None = None

    def push(self) -> dict[str, Any]:
        """The ``message`` push of PROTOCOL.md §3."""
        return {
            "push": "message",
            "channel": self.channel,
            "offset": self.offset,
            "epoch": self.epoch,
            "data": self.data,
            "from": self.from_,
            "ts": self.ts,
        }

    def frame(self, codec: Codec) -> bytes:
        """The complete WebSocket frame of this push in ``codec`` (cached)."""
        frames = self._frames
        if frames is None:
            frames = self._frames = [None, None]
        f = frames[codec.index]
        if f is None:
            if codec is JSON:
                f = text_frame(JSON.encode(self.push()))
            else:
                f = binary_frame(MSGPACK.encode(self.push()))
            frames[codec.index] = f
        return f

    def __repr__(self) -> str:
        return f"<Publication {self.channel}@{self.offset}/{self.epoch}>"


@dataclass(slots=True, frozen=True)
class Position:
    """The top offset of a channel and its epoch."""

    offset: int
    epoch: str


@dataclass(slots=True)
class PublishResult:
    """An accepted publish: its offset, whether it repeated an earlier ``idem``, and —
    when the broker acknowledges before its write is durable — the future of that write
    (``committed``), which the caller awaits before acknowledging the publisher."""

    offset: int
    epoch: str
    duplicate: bool = False
    committed: asyncio.Future[None] | None = None


@dataclass(slots=True)
class Recovery:
    """The answer to a recovery: messages after the client's offset, if all are still held."""

    position: Position
    recovered: bool
    publications: list[Publication]


@dataclass(slots=True)
class HistoryPage:
    position: Position
    publications: list[Publication]


class SessionState:
    """Where a session is in its life; the outbox reads it (nothing is queued once closing)."""

    CONNECTING = 0  # transport open, not authenticated
    OPEN = 1  # authenticated
    CLOSING = 2  # disconnect sent, waiting for the transport to close
    CLOSED = 3
