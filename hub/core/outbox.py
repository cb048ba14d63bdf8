"""Outbound frames: each session's queue of complete frames and the per-loop-turn flush.

Frames queued during one loop turn leave in one ``transport.write`` per session
(:meth:`Outbox.flush`). A session whose transport buffer passes ``client_queue_max`` bytes after
the flush is disconnected with 4010 (slow consumer), after the write of everyone
else, never slowing them. Once a session is closing nothing more is queued: its
``disconnect`` push is the last data frame and the close frame the last frame
(RFC 6455 §5.5.1).

This module knows nothing of sessions' requests, channels or the node: a
:class:`FrameQueue` is the part of a session the writer sees.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from hub.config import Settings
from hub.core.stats import Stats
from hub.core.types import SessionState
from hub.protocol.errors import Close

__all__ = ["FrameQueue", "Outbox", "Transport"]


class Transport(Protocol):
    """What a session writes to: an asyncio transport (uvloop's, asyncio's)."""

    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...

    def is_closing(self) -> bool: ...

    def close(self) -> None: ...


class FrameQueue:
    """The outbound slot of one session: ``None``, one frame, or a list of frames."""

    __slots__ = ("_out", "outbox", "state", "transport")

    def __init__(self, outbox: Outbox, transport: Transport | None) -> None:
        self.outbox = outbox
        self.transport = transport
        self.state = SessionState.CONNECTING
        self._out: bytes | list[bytes] | None = None

    def enqueue(self, frame: bytes) -> None:
        """Queue a complete frame; it leaves with this loop turn's other frames.

        Nothing is queued once the session is closing: its close frame is written."""
        if self.state >= SessionState.CLOSING:
            return
        out = self._out
        if out is None:
            if self.transport is None:
                return
            self._out = frame
            self.outbox.mark_dirty(self)
        elif type(out) is list:
            out.append(frame)
        else:
            self._out = [out, frame]  # type: ignore[list-item]

    def take_output(self) -> bytes | None:
        out = self._out
        self._out = None
        if out is None or type(out) is bytes:
            return out
        return b"".join(out)  # type: ignore[arg-type]

    def write_now(self) -> None:
        """Write what is queued at once (before a close frame)."""
        data = self.take_output()
        if data is not None and self.transport is not None:
            self.transport.write(data)

    def disconnect(self, code: int, reason: str, reconnect: bool) -> None:
        """Close the session with ``code`` (the outbox calls it for a slow consumer)."""
        raise NotImplementedError


class Outbox:
    """The sessions with queued frames, written once per loop turn.

    ``starting`` counts request tasks created but not yet started: requests read in
    this turn start their tasks after a flush already scheduled; the flush then
    waits one turn (once) for them, so that under load the publications of all the
    requests read together leave in one write."""

    __slots__ = ("_deferred", "_dirty", "handle", "loop", "settings", "starting", "stats")

    def __init__(self, settings: Settings, stats: Stats) -> None:
        self.settings = settings  # client_queue_max: buffered bytes before the 4010 cut
        self.stats = stats
        self.loop: asyncio.AbstractEventLoop | None = None
        self.starting = 0
        self._dirty: list[FrameQueue] = []
        self.handle: asyncio.Handle | None = None  # the flush due, if any
        self._deferred = False

    def mark_dirty(self, queue: FrameQueue) -> None:
        self._dirty.append(queue)
        if self.handle is None:
            loop = self.loop or asyncio.get_running_loop()
            self.handle = loop.call_soon(self.flush)

    def cancel(self) -> None:
        """Drop a scheduled flush (the queued frames stay; the next flush writes them)."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def flush(self) -> None:
        """Write every session's queued frames of this loop turn, one write each."""
        if self.starting and not self._deferred:
            self._deferred = True
            loop = self.loop or asyncio.get_running_loop()
            self.handle = loop.call_soon(self.flush)
            return
        self._deferred = False
        self.handle = None
        dirty, self._dirty = self._dirty, []
        limit = self.settings.client_queue_max
        slow: list[FrameQueue] = []
        for c in dirty:  # the hot loop: one write per session per loop turn
            out = c._out
            c._out = None
            t = c.transport
            if out is None or t is None:
                continue
            t.write(out if type(out) is bytes else b"".join(out))  # type: ignore[arg-type]
            if t.get_write_buffer_size() > limit:
                slow.append(c)
        for c in slow:
            self.stats.slow_consumers += 1
            c.disconnect(Close.SLOW_CONSUMER, "slow consumer", True)
