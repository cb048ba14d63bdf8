"""The listening socket's protocol: ``/ws`` upgrades become a lean
:class:`WsConnection`; every other request is handed to aiohttp unchanged.

A WebSocket connection is one object (``__slots__``; no task, no timer while
idle) that parses frames with :class:`hub.protocol.websocket.FrameParser` and is
its own :class:`hub.core.session.Session`. aiohttp keeps the HTTP API on the same port:
the front protocol reads the first request head and, unless it is the upgrade,
passes the transport and the bytes read so far to aiohttp's request handler.
A WebSocket upgrade must be the first request of its TCP connection (browsers,
``websockets`` and nginx without upstream keep-alive for ``/ws`` all do this).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from itertools import islice
from typing import cast

from hub.auth import Identity
from hub.core.node import Node
from hub.core.session import Session, SessionState
from hub.protocol.codec import SUBPROTOCOLS, codec_for
from hub.protocol.errors import Close, HubError
from hub.protocol.handshake import (
    Request,
    accept_response,
    error_response,
    is_websocket_upgrade,
    parse_request_head,
)
from hub.protocol.websocket import (
    Close as CloseEvent,
)
from hub.protocol.websocket import (
    Event,
    FrameParser,
    HandshakeError,
    Message,
    Ping,
    ProtocolViolation,
    close_frame,
    pong_frame,
)
from hub.server.edge import Edge, warn_busy, warn_malformed

__all__ = ["FrontProtocol", "WsConnection"]

log = logging.getLogger("hub.ws")

WS_PATH = "/ws"
_TRY_AGAIN_LATER = 1013  # RFC 6455: the server is overloaded, reconnect later
_ABORT_AFTER = 5.0  # seconds a closing transport may take to drain before it is aborted


class WsConnection(Session, asyncio.Protocol):
    """One WebSocket client connection."""

    __slots__ = ("parser",)

    transport: asyncio.Transport | None

    def __init__(self, node: Node, transport: asyncio.Transport, subprotocol: str | None) -> None:
        super().__init__(node, transport, codec_for(subprotocol))
        self.parser = FrameParser(node.settings.max_frame_size)

    def close_transport(self, code: int, reason: str) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(close_frame(code, reason))
        t.close()
        asyncio.get_running_loop().call_later(_ABORT_AFTER, t.abort)

    # -- asyncio.Protocol --------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.ending is not None:  # closing once its earlier requests are answered
            return
        try:
            events = self.parser.feed(data)
        except ProtocolViolation as exc:
            self._events(exc.events)  # the frames before the violation are still answered
            if exc.code == Close.TOO_BIG:
                self.node.dispatcher.oversized(self)
            self._fail(exc.code, exc.reason)
            return
        self._events(events)

    def _events(self, events: list[Event]) -> None:
        if not events:
            return
        self.alive = True
        on_frame = self.node.dispatcher.on_frame
        for ev in events:
            if type(ev) is Message:
                if self.state < SessionState.CLOSING and self.ending is None:
                    on_frame(self, ev.payload)
            elif type(ev) is Ping:
                self.enqueue(pong_frame(ev.payload))
            elif type(ev) is CloseEvent:
                self._closed_by_peer(ev.code)
                return

    def _closed_by_peer(self, code: int | None) -> None:
        """The peer's close frame: answer what it asked before, then echo the close."""
        if self.state < SessionState.CLOSING:
            self.close_after_requests(code or Close.NORMAL, "", False, push=False)
            return
        t = self.transport
        if t is not None:
            t.close()
        self.node.forget(self)

    def _fail(self, code: int, reason: str) -> None:
        """A protocol violation: answer the requests read before it, then close."""
        self.close_after_requests(code, reason, False, push=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.node.transport_closed()
        self.closed()

    def pause_writing(self) -> None:  # the buffer limit is checked after each flush
        pass

    def resume_writing(self) -> None:
        pass


class FrontProtocol(asyncio.Protocol):
    """Reads the first request head of a TCP connection and routes it.

    The head must be complete within ``edge.head_timeout`` seconds and
    :data:`~hub.protocol.handshake.MAX_HEAD_SIZE` bytes; until then the connection
    is one of the edge's pending ones (and may be closed to make room)."""

    __slots__ = ("_buf", "_edge", "_http", "_node", "_timer", "_transport")

    def __init__(self, node: Node, http: Callable[[], asyncio.Protocol], edge: Edge) -> None:
        self._node = node
        self._http = http
        self._edge = edge
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._edge.head_timeout, self._give_up, 408)
        self._edge.admit(self, self._evicted)

    def _evicted(self) -> bool:
        if self._transport is None:
            return False
        self._give_up(503)
        return True

    def _give_up(self, status: int) -> None:
        """The head did not come in time (408) or room is needed (503): close."""
        t = self._transport
        self._stop_waiting()
        if t is None:
            return
        if self._buf:  # a partial head: say why; a silent connection just goes
            message = "request head not complete in time" if status == 408 else "server busy"
            warn_malformed(_peer(t), message)
            t.write(error_response(status, message))
            t.close()
            asyncio.get_running_loop().call_later(_ABORT_AFTER, t.abort)
        else:
            t.abort()

    def _stop_waiting(self) -> None:
        self._transport = None
        self._edge.done(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def data_received(self, data: bytes) -> None:
        t = self._transport
        if t is None:
            return
        self._buf += data
        try:
            req, consumed = parse_request_head(self._buf)
        except HandshakeError as exc:
            self._stop_waiting()
            warn_malformed(_peer(t), exc.message)
            t.write(error_response(exc.status, exc.message))
            t.close()
            return
        if req is None:
            return
        self._stop_waiting()
        if req.path == WS_PATH:
            upgrade(self._node, t, req, bytes(self._buf[consumed:]), self._edge.max_pending)
        else:
            handler = self._http()
            t.set_protocol(handler)
            handler.connection_made(t)
            handler.data_received(bytes(self._buf))

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()

    def eof_received(self) -> bool | None:
        return None


def _peer(t: asyncio.BaseTransport) -> str:
    peer = t.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


def _token(req: Request) -> str | None:
    token = req.query.get("token")
    if token:
        return token
    auth = req.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def upgrade(
    node: Node, t: asyncio.Transport, req: Request, rest: bytes, max_waiting: int = 1 << 30
) -> None:
    """Answer the upgrade and make a :class:`WsConnection` the transport's protocol.

    At most ``max_waiting`` connections may wait for their ``connect`` at once; one
    more closes the oldest with 1013 (try again later; clients reconnect)."""
    if node.closing:
        t.write(error_response(503, "server shutting down"))
        t.close()
        return
    try:
        if req.method != "GET" or not is_websocket_upgrade(req):
            raise HandshakeError(426, "this endpoint speaks WebSocket only")
        response, subprotocol = accept_response(req, SUBPROTOCOLS, None)
    except HandshakeError as exc:
        t.write(error_response(exc.status, exc.message))
        t.close()
        return
    conn = WsConnection(node, t, subprotocol)
    node.transport_opened()
    t.set_protocol(conn)
    t.write(response)
    token = _token(req)
    identity: Identity | None = None
    refusal: HubError | None = None
    if token is not None:
        try:
            identity = node.verifier.verify(token)
        except HubError as exc:
            refusal = exc
    if refusal is not None:
        code = Close.TOKEN_EXPIRED if refusal.code == 109 else Close.UNAUTHORIZED
        node.stats.error(refusal.code)
        conn.disconnect(code, refusal.message, code == Close.TOKEN_EXPIRED)
        return
    if identity is not None:
        node.dispatcher.authenticate_later(conn, identity)
    else:
        _make_room(node, max_waiting)
        node.unauthenticated[conn] = None
        loop = asyncio.get_running_loop()
        conn.timer = loop.call_later(node.settings.connect_timeout, _connect_timeout, conn)
    if rest:
        conn.data_received(rest)


def _make_room(node: Node, max_waiting: int) -> None:
    waiting = node.unauthenticated
    excess = len(waiting) - max_waiting + 1
    if excess <= 0:
        return
    victims = list(islice(waiting, excess))  # the oldest
    warn_busy(max_waiting, "WebSocket connections waiting for 'connect'")
    for c in victims:
        c.disconnect(_TRY_AGAIN_LATER, "server busy, try again", True)


def _connect_timeout(conn: WsConnection) -> None:
    conn.timer = None
    if conn.state == SessionState.CONNECTING:
        conn.disconnect(Close.UNAUTHORIZED, "connect timeout", False)
