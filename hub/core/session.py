"""One connection's state, transport-independent: identity, subscriptions, the
request queue and the rate limiter; its outbound frames are a
:class:`hub.core.outbox.FrameQueue`.

A session holds no task and no timer while idle. Requests are handled in order:
the first request of a burst starts one worker task, which ends when the queue
is empty. Frames queued during one loop turn leave in one ``transport.write``
(see :meth:`hub.core.outbox.Outbox.flush`).

Once a session is closing nothing more is queued: the ``disconnect`` push is the
last data frame and the close frame the last frame (RFC 6455 §5.5.1). A close
the client provoked (a protocol violation, a flood, its own close frame) first
answers the requests already read (:meth:`Session.close_after_requests`).

A session sees its node only through :class:`Host` and the op handlers only
through :class:`Dispatch`: it imports neither.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from hub.auth import Identity
from hub.config import Settings
from hub.core.outbox import FrameQueue, Outbox, Transport
from hub.core.stats import Stats
from hub.core.types import SessionState
from hub.protocol.codec import JSON, Codec
from hub.protocol.requests import Request, Validator, error_push, error_reply, ok_reply
from hub.protocol.websocket import binary_frame, text_frame

__all__ = [
    "DRAIN_MAX",
    "Dispatch",
    "Handler",
    "Host",
    "Session",
    "SessionState",
    "Transport",
]

DRAIN_MAX = 5.0  # seconds the requests read before a client-provoked close may take

Handler = Callable[["Session", Request], Awaitable[object]]


class Dispatch(Protocol):
    """The op handlers (:class:`hub.core.ops.Ops`), as sessions and transports see them."""

    async def handle(self, session: Session, req: Request) -> None: ...

    def on_frame(self, session: Session, payload: bytes) -> None: ...

    def oversized(self, session: Session) -> None: ...

    def authenticate_later(self, session: Session, identity: Identity) -> None: ...

    def register(self, op: str, validator: Validator, handler: Handler) -> None: ...

    def handler(self, op: str) -> Handler | None: ...


class Host(Protocol):
    """What a session (and its transport) needs of its node (:class:`hub.core.node.Node`)."""

    settings: Settings
    stats: Stats
    outbox: Outbox
    dispatcher: Dispatch

    def next_client_id(self) -> str: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...

    def forget(self, session: Session) -> None: ...

    def transport_closed(self) -> None: ...


class Session(FrameQueue):
    __slots__ = (
        "_drain_timer",
        "_inbox",
        "acks",
        "alive",
        "bad",
        "codec",
        "ending",
        "id",
        "identity",
        "node",
        "stamp",
        "strikes",
        "subs",
        "timer",
        "tokens",
    )

    def __init__(self, node: Host, transport: Transport | None, codec: Codec = JSON) -> None:
        super().__init__(node.outbox, transport)
        self.node = node
        self.codec = codec
        self.id = node.next_client_id()
        self.identity: Identity | None = None
        self.subs: dict[str, None] = {}
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
        self.outbox.starting += 1
        self.node.spawn(self._work())

    async def _work(self) -> None:
        self.outbox.starting -= 1
        inbox = self._inbox
        assert inbox is not None
        try:
            while inbox and self.state < SessionState.CLOSING:
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
        if self.state >= SessionState.CLOSING or self.ending is not None:
            return
        self.ending = (code, reason, reconnect, push)
        if self._inbox is None and not self.acks:
            self._end()
            return
        loop = self.outbox.loop or asyncio.get_running_loop()
        self._drain_timer = loop.call_later(DRAIN_MAX, self._end)

    def end_if_done(self) -> None:
        """Close a session in :meth:`close_after_requests` once nothing is owed."""
        if self.ending is not None and self._inbox is None and not self.acks:
            self._end()

    def _end(self) -> None:
        ending = self.ending
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if ending is None or self.state >= SessionState.CLOSING:
            return
        code, reason, reconnect, push = ending
        if push:
            self.disconnect(code, reason, reconnect)
            return
        self.state = SessionState.CLOSING
        self.write_now()
        self.close_transport(code, reason)
        self.node.forget(self)

    def disconnect(self, code: int, reason: str, reconnect: bool) -> None:
        """Push ``disconnect``, close with ``code`` and leave every channel."""
        if self.state >= SessionState.CLOSING:
            return
        self.send({"push": "disconnect", "code": code, "reason": reason, "reconnect": reconnect})
        self.state = SessionState.CLOSING
        self.write_now()
        self.close_transport(code, reason)
        self.node.forget(self)

    def close_transport(self, code: int, reason: str) -> None:
        """Close the transport with ``code`` (the WebSocket connection sends a close frame)."""
        t = self.transport
        if t is not None and not t.is_closing():
            t.close()

    def closed(self) -> None:
        """The transport is gone (called once by the transport)."""
        self.state = SessionState.CLOSED
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
        return f"<Session {self.id} member={self.member} subs={len(self.subs)}>"
