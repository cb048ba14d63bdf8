"""One client connection's state, transport-independent: identity, subscriptions,
the outbound slot of coalesced frames, the request queue and the rate limiter.

A client holds no task and no timer while idle. Requests are handled in order:
the first request of a burst starts one worker task, which ends when the queue
is empty. Frames queued during one loop turn leave in one ``transport.write``
(see :meth:`hub.core.node.Node.flush`).

Once a client is closing nothing more is queued: the ``disconnect`` push is the
last data frame and the close frame the last frame (RFC 6455 §5.5.1). A close
the client provoked (a protocol violation, a flood, its own close frame) first
answers the requests already read (:meth:`Client.close_after_requests`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from hub.auth import Identity
from hub.protocol.codec import JSON, Codec
from hub.protocol.requests import Request, error_push, error_reply, ok_reply
from hub.protocol.websocket import binary_frame, text_frame

if TYPE_CHECKING:
    from hub.core.node import Node

__all__ = ["DRAIN_MAX", "Client", "ClientState", "Transport"]

DRAIN_MAX = 5.0  # seconds the requests read before a client-provoked close may take


class ClientState:
    CONNECTING = 0  # transport open, not authenticated
    OPEN = 1  # authenticated
    CLOSING = 2  # disconnect sent, waiting for the transport to close
    CLOSED = 3


class Transport(Protocol):
    """What a client writes to: an asyncio transport (uvloop's, asyncio's)."""

    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...

    def is_closing(self) -> bool: ...

    def close(self) -> None: ...


class Client:
    __slots__ = (
        "_drain_timer",
        "_inbox",
        "_out",
        "acks",
        "alive",
        "bad",
        "codec",
        "ending",
        "id",
        "identity",
        "node",
        "stamp",
        "state",
        "strikes",
        "subs",
        "timer",
        "tokens",
        "transport",
    )

    def __init__(self, node: Node, transport: Transport | None, codec: Codec = JSON) -> None:
        self.node = node
        self.transport = transport
        self.codec = codec
        self.id = node.next_client_id()
        self.identity: Identity | None = None
        self.subs: dict[str, None] = {}
        self.state = ClientState.CONNECTING
        self._out: bytes | list[bytes] | None = None
        self._inbox: deque[Request] | None = None
        self.tokens = float(node.settings.rate_burst)
        self.stamp = time.monotonic()
        self.strikes = 0  # requests refused for rate in a row
        self.bad = 0  # malformed frames, decays with good ones
        self.alive = True  # saw traffic since the last ping
        self.timer: asyncio.TimerHandle | None = None
        # a close waiting for the requests read before it: (code, reason, reconnect, push)
        self.ending: tuple[int, str, bool, bool] | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self.acks = 0  # replies still owed by callbacks (publishes waiting for the store)

    # -- output ----------------------------------------------------------------
    def enqueue(self, frame: bytes) -> None:
        """Queue a complete frame; it leaves with this loop turn's other frames.

        Nothing is queued once the client is closing: its close frame is written."""
        if self.state >= ClientState.CLOSING:
            return
        out = self._out
        if out is None:
            if self.transport is None:
                return
            self._out = frame
            self.node.mark_dirty(self)
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

    def send(self, obj: dict[str, Any]) -> None:
        payload = self.codec.encode(obj)
        self.enqueue(binary_frame(payload) if self.codec.binary else text_frame(payload))

    def reply(self, rid: int, fields: dict[str, Any] | None = None) -> None:
        self.send(ok_reply(rid, fields))

    def reply_error(self, rid: int, code: int, message: str) -> None:
        self.node.stats.error(code)
        self.send(error_reply(rid, code, message))

    def push_error(self, code: int, message: str) -> None:
        self.node.stats.error(code)
        self.send(error_push(code, message))

    # -- rate limit -----------------------------------------------------------
    def take_token(self, now: float) -> bool:
        s = self.node.settings
        tokens = self.tokens + (now - self.stamp) * s.rate_limit
        self.stamp = now
        if tokens > s.rate_burst:
            tokens = float(s.rate_burst)
        if tokens < 1.0:
            self.tokens = tokens
            self.strikes += 1
            return False
        self.tokens = tokens - 1.0
        self.strikes = 0
        return True

    # -- requests -------------------------------------------------------------
    def submit(self, req: Request) -> None:
        """Queue a request; requests of one client are handled one after another."""
        inbox = self._inbox
        if inbox is not None:
            inbox.append(req)
            return
        self._inbox = deque((req,))
        self.node.starting += 1
        self.node.spawn(self._work())

    async def _work(self) -> None:
        self.node.starting -= 1
        inbox = self._inbox
        assert inbox is not None
        try:
            while inbox and self.state < ClientState.CLOSING:
                await self.node.dispatcher.handle(self, inbox.popleft())
        finally:
            self._inbox = None
            if self.ending is not None:
                self.end_if_done()

    # -- closing ---------------------------------------------------------------
    def close_after_requests(
        self, code: int, reason: str, reconnect: bool, *, push: bool = True
    ) -> None:
        """Close because of what the client sent, once the requests it sent before are
        answered (at most :data:`DRAIN_MAX` seconds); nothing it sends meanwhile is read.

        ``push``: send the ``disconnect`` push before the close frame (a close decided
        by the protocol layer, 1002/1009 or the answer to the peer's close, has none)."""
        if self.state >= ClientState.CLOSING or self.ending is not None:
            return
        self.ending = (code, reason, reconnect, push)
        if self._inbox is None and not self.acks:
            self._end()
            return
        loop = self.node._loop or asyncio.get_running_loop()
        self._drain_timer = loop.call_later(DRAIN_MAX, self._end)

    def end_if_done(self) -> None:
        """Close a client in :meth:`close_after_requests` once nothing is owed."""
        if self.ending is not None and self._inbox is None and not self.acks:
            self._end()

    def _end(self) -> None:
        ending = self.ending
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if ending is None or self.state >= ClientState.CLOSING:
            return
        code, reason, reconnect, push = ending
        if push:
            self.disconnect(code, reason, reconnect)
            return
        self.state = ClientState.CLOSING
        self.node.flush_client(self)
        self.close_transport(code, reason)
        self.node.forget(self)

    def disconnect(self, code: int, reason: str, reconnect: bool) -> None:
        """Push ``disconnect``, close with ``code`` and leave every channel."""
        if self.state >= ClientState.CLOSING:
            return
        self.send({"push": "disconnect", "code": code, "reason": reason, "reconnect": reconnect})
        self.state = ClientState.CLOSING
        self.node.flush_client(self)
        self.close_transport(code, reason)
        self.node.forget(self)

    def close_transport(self, code: int, reason: str) -> None:
        """Close the transport with ``code`` (the WebSocket connection sends a close frame)."""
        t = self.transport
        if t is not None and not t.is_closing():
            t.close()

    def closed(self) -> None:
        """The transport is gone (called once by the transport)."""
        self.state = ClientState.CLOSED
        self.transport = None
        self._out = None
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.node.forget(self)

    @property
    def member(self) -> str | None:
        return None if self.identity is None else self.identity.member

    def __repr__(self) -> str:
        return f"<Client {self.id} member={self.member} subs={len(self.subs)}>"
