"""The Python client of the hub (protocol v1) on ``websockets``: requests,
subscriptions, automatic reconnect and recovery, and a small CLI.

Quick start::

    async with Client("ws://127.0.0.1:8080/ws", token) as c:
        sub = await c.subscribe("chat:lobby")
        await c.publish("chat:lobby", {"text": "hello"})
        async for item in sub:
            if isinstance(item, Reset):
                ...  # the gap cannot be filled: reload the channel's state
            else:
                print(item.offset, item.data)

Guarantees. Each :class:`Subscription` hands its consumer every message once
and in offset order, across reconnects, as long as the hub still holds the
missed messages (its recovery window, then its history). On a reconnect the
client sends ``connect``, re-subscribes each channel with ``since`` = the
position of the last item the consumer was handed, and

- ``recovered: true``: yields exactly the messages the reply carries;
- ``recovered: false`` with the same epoch: pages through ``history`` with
  ``since`` to fill the gap;
- a different epoch, or a gap history no longer holds: yields a :class:`Reset`
  (the consumer must reload); nothing is ever skipped silently.

Messages are deduplicated by offset. Server-side subscriptions (the personal
channel ``member:<id>``, :attr:`Client.personal`) are recovered with
``history`` from their last offset.

Presence changes (``join``/``leave`` pushes) are a separate stream per
subscription, :meth:`Subscription.presence_events`, bounded to the latest
:data:`PRESENCE_BUFFER` events. Other pushes (``error``, ``disconnect``,
``receipt``, extensions) go to the ``on_push`` callback.

Liveness: ``websockets`` answers the hub's ping frames and pings the hub
itself (every 20 s); a dead connection is closed and reconnected.

Exception hierarchy::

    HubError           the hub answered ``ok: false`` (``code``, ``message``);
                       shared with the server (hub.protocol.errors)
    ClientError        a client-side failure
      ConnectError     the connection could not be opened (initial connect)
      ConnectionLost   the connection dropped while a request was pending
                       (``code``, ``reason``); a ``publish`` with an ``idem`` key
                       may be retried safely, one without may have been stored
      RequestTimeout   no reply within the request timeout (also a TimeoutError)
      ClientClosed     the client is closed (by the caller, or for good by the hub)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import inspect
import logging
import os
import random
import signal
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, Literal, TypeVar

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from hub.protocol.codec import JSON, MSGPACK, Codec, DecodeError, codec_for
from hub.protocol.errors import Close, Code, HubError, reconnect_allowed

__all__ = [
    "PRESENCE_BUFFER",
    "Client",
    "ClientClosed",
    "ClientError",
    "ConnectError",
    "ConnectionLost",
    "EndCause",
    "Ended",
    "History",
    "HubError",
    "Item",
    "Message",
    "Position",
    "PresenceEvent",
    "RequestTimeout",
    "Reset",
    "State",
    "StateChange",
    "Subscription",
    "main",
]

log = logging.getLogger("hub.client")

PRESENCE_BUFFER: Final = 1000  # join/leave events kept per subscription when not consumed
_HISTORY_PAGE: Final = 500  # messages per history request while filling a gap
_MAX_FRAME: Final = 64 << 20  # history pages of large messages can be big
_TRANSIENT: Final = frozenset({Code.INTERNAL, Code.UNAVAILABLE, Code.TOO_MANY_REQUESTS})
_ABNORMAL: Final = 1006

T = TypeVar("T")
TokenProvider = Callable[[], str | Awaitable[str]]


# -- values ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Position:
    """A place in a channel's stream: the offset of a message, within an epoch."""

    offset: int
    epoch: str

    def wire(self) -> dict[str, Any]:
        return {"offset": self.offset, "epoch": self.epoch}


@dataclass(frozen=True, slots=True)
class Message:
    """A message of a channel (the ``message`` push)."""

    channel: str
    offset: int
    epoch: str
    data: Any
    from_: str | None  # member id, or None for the server API
    ts: int  # ms since the Unix epoch, server time

    @property
    def position(self) -> Position:
        return Position(self.offset, self.epoch)

    @classmethod
    def from_wire(cls, f: Mapping[str, Any]) -> Message:
        """Build from a ``message`` push; ValueError when it is malformed."""
        channel, offset, epoch = f.get("channel"), f.get("offset"), f.get("epoch")
        from_, ts = f.get("from"), f.get("ts", 0)
        if not isinstance(channel, str) or type(offset) is not int or not isinstance(epoch, str):
            raise ValueError("malformed message push")
        if not (from_ is None or isinstance(from_, str)) or type(ts) is not int:
            raise ValueError("malformed message push")
        return cls(channel, offset, epoch, f.get("data"), from_, ts)

    def wire(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "offset": self.offset,
            "epoch": self.epoch,
            "data": self.data,
            "from": self.from_,
            "ts": self.ts,
        }


@dataclass(frozen=True, slots=True)
class Reset:
    """The stream cannot continue from ``previous``: the epoch changed or the hub no
    longer holds the gap. Reload the channel's state (e.g. with :meth:`Client.history`);
    the messages after ``position`` follow."""

    channel: str
    previous: Position
    position: Position
    reason: str


Item = Message | Reset
"""What iterating a :class:`Subscription` yields."""


@dataclass(frozen=True, slots=True)
class History:
    messages: list[Message]  # oldest first
    offset: int  # the channel's top offset
    epoch: str


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """A ``join`` (a member's first connection subscribed) or ``leave`` (its last left)."""

    kind: Literal["join", "leave"]
    channel: str
    member: str


class EndCause(enum.Enum):
    UNSUBSCRIBED = "unsubscribed"  # the caller unsubscribed
    REVOKED = "revoked"  # the hub withdrew the subscription (``unsubscribe`` push)
    REFUSED = "refused"  # re-subscribing after a reconnect was refused (e.g. 103)
    CLOSED = "closed"  # the client closed, or the hub closed it for good


@dataclass(frozen=True, slots=True)
class Ended:
    """Why a subscription's iteration ended (:attr:`Subscription.ended`)."""

    cause: EndCause
    reason: str
    code: int | None = None  # error code (REFUSED) or close code (CLOSED)


class State(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class StateChange:
    """Given to ``on_state``. ``code``/``reason``: the last disconnect (None at first);
    ``attempt``/``delay``: the reconnect attempt and the backoff before it."""

    state: State
    code: int | None = None
    reason: str = ""
    attempt: int = 0
    delay: float = 0.0


# -- errors ------------------------------------------------------------------------------
class ClientError(Exception):
    """A client-side failure (see the module docstring for the hierarchy)."""


class ConnectError(ClientError):
    """The connection could not be opened."""


class ConnectionLost(ClientError):
    """The connection dropped before the reply. The request may or may not have
    taken effect: retry a ``publish`` only with an ``idem`` key."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection lost ({code} {reason})".rstrip())
        self.code = code
        self.reason = reason


class RequestTimeout(ClientError, TimeoutError):
    """No reply within the request timeout."""


class ClientClosed(ClientError):
    """The client is closed."""


# -- a small buffered stream ------------------------------------------------------------------
class _Stream(Generic[T]):
    """A buffer with async iteration; ``close`` ends it once the buffer is drained."""

    def __init__(self, maxlen: int | None = None) -> None:
        self._items: deque[T] = deque(maxlen=maxlen)
        self._waiters: list[asyncio.Future[None]] = []
        self.closed = False

    def put(self, item: T) -> None:
        self._items.append(item)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def __len__(self) -> int:
        return len(self._items)

    def __aiter__(self) -> _Stream[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self.closed:
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
        return self._items.popleft()


# -- subscriptions -----------------------------------------------------------------------------
class Subscription:
    """A channel's stream of :data:`Item` (``Message`` or ``Reset``), in offset order.

    ``offset``/``epoch`` are the position of the last item handed to the consumer:
    the client resumes from there after a reconnect. Iteration ends when the
    subscription ends; :attr:`ended` then says why. Messages received but not
    yet consumed are buffered in memory without bound (see :meth:`pending`):
    consume promptly, or unsubscribe.
    """

    def __init__(
        self, client: Client, channel: str, server_side: bool, since: Position | None
    ) -> None:
        self.channel = channel
        self.server_side = server_side  # subscribed by the hub at connect
        self.ended: Ended | None = None
        self._client = client
        self._handed = since  # the last item handed to the consumer
        self._queued = since  # the last item put in the buffer
        self._items: _Stream[Item] = _Stream()
        self._presence: _Stream[PresenceEvent] = _Stream(PRESENCE_BUFFER)
        self._held: list[Message] | None = []  # live messages held while (re)syncing
        self.active = False  # the first subscribe succeeded

    @property
    def position(self) -> Position:
        pos = self._handed
        return pos if pos is not None else Position(0, "")

    @property
    def offset(self) -> int:
        return self.position.offset

    @property
    def epoch(self) -> str:
        return self.position.epoch

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Item:
        item = await self._items.__anext__()
        self._handed = item.position
        return item

    def pending(self) -> int:
        """Items received but not yet handed to the consumer."""
        return len(self._items)

    def presence_events(self) -> AsyncIterator[PresenceEvent]:
        """The ``join``/``leave`` events of this channel (latest :data:`PRESENCE_BUFFER` kept)."""
        return self._presence

    async def unsubscribe(self) -> None:
        await self._client.unsubscribe(self.channel)

    def __repr__(self) -> str:
        return f"<Subscription {self.channel} at {self.offset}/{self.epoch}>"

    # -- driven by the client ----------------------------------------------------
    def _since(self) -> Position | None:
        handed, queued = self._handed, self._queued
        if handed is None or queued is None or handed.epoch != queued.epoch:
            return queued
        return handed

    def _start(self, top: Position) -> None:
        self._handed = self._queued = top

    def _hold(self) -> None:
        if self._held is None:
            self._held = []

    def _live(self, msg: Message) -> None:
        if self._held is not None:
            self._held.append(msg)
        else:
            self._accept(msg)

    def _accept(self, msg: Message) -> None:
        q = self._queued
        if q is None:
            self._queued = msg.position
        elif msg.epoch != q.epoch:
            self._reset(Position(msg.offset - 1, msg.epoch), "the channel's epoch changed")
        elif msg.offset <= q.offset:
            return  # a duplicate
        elif msg.offset != q.offset + 1:
            log.warning(
                "%s: gap in the live stream (%d after %d)", self.channel, msg.offset, q.offset
            )
        self._queued = msg.position
        self._items.put(msg)

    def _reset(self, top: Position, reason: str) -> None:
        previous = self._queued or Position(0, "")
        self._queued = top
        self._items.put(Reset(self.channel, previous, top, reason))

    def _release(self) -> None:
        held, self._held = self._held or [], None
        for msg in sorted(held, key=lambda m: m.offset):
            self._accept(msg)

    def _presence_event(self, kind: Literal["join", "leave"], member: str) -> None:
        self._presence.put(PresenceEvent(kind, self.channel, member))

    def _end(self, ended: Ended) -> None:
        if self.ended is None:
            self.ended = ended
            if self._held:
                self._release()
            self._items.close()
            self._presence.close()


# -- one connection ------------------------------------------------------------------------------
class _Retry(Exception):
    """A transient refusal while (re)syncing: drop this connection and reconnect."""


class _Conn:
    """One WebSocket connection: request ids, pending replies, the reader task."""

    def __init__(self, ws: ClientConnection, codec: Codec) -> None:
        self.ws = ws
        self.codec = codec
        self.last_id = 0
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.lost = False
        self.code = _ABNORMAL
        self.reason = ""
        self.push_reconnect = True  # the ``disconnect`` push's ``reconnect``
        self.early: list[dict[str, Any]] | None = []  # pushes before the connect reply is used

    async def send(self, frame: dict[str, Any]) -> None:
        data = self.codec.encode(frame)
        try:
            await self.ws.send(data, text=not self.codec.binary)
        except ConnectionClosed as exc:
            if exc.rcvd is not None:
                raise ConnectionLost(exc.rcvd.code, exc.rcvd.reason) from None
            raise ConnectionLost(*self.close_info()) from None

    def close_info(self) -> tuple[int, str]:
        return self.code, self.reason

    def lose(self, exc: ConnectionClosed | None) -> None:
        if exc is not None and exc.rcvd is not None:
            self.code, self.reason = exc.rcvd.code, exc.rcvd.reason
        self.lost = True
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionLost(self.code, self.reason))
        self.pending.clear()


# -- the client ------------------------------------------------------------------------------------
class Client:
    """A connection to a hub that reconnects and recovers (see the module docstring).

    ``codec``: ``"json"`` or ``"msgpack"``. ``reconnect``: reconnect after a drop
    unless the close code forbids it (4001, 4003, 4008, 4009; 4013 only with
    ``token_provider``, called — sync or async — for a new token). ``backoff``:
    (base, cap) seconds of the capped exponential backoff with full jitter.
    ``connect_timeout``: opening plus the ``connect`` reply. ``request_timeout``:
    default per-request timeout, which also bounds waiting for a reconnect.
    ``on_state``: called with a :class:`StateChange` on each state change.
    ``on_push``: called with pushes that belong to no subscription (``error``,
    ``disconnect``, ``receipt``, …). The initial :meth:`connect` raises on failure;
    later drops are retried in the background.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        codec: Literal["json", "msgpack"] = "json",
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.2, 10.0),
        connect_timeout: float = 10.0,
        request_timeout: float = 10.0,
        name: str | None = None,
        token_provider: TokenProvider | None = None,
        on_state: Callable[[StateChange], None] | None = None,
        on_push: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if codec not in ("json", "msgpack"):
            raise ValueError(f"unknown codec {codec!r}: 'json' or 'msgpack'")
        self.url = url
        self.name = name or "hub-client"
        self.member: str | None = None  # the token's ``sub``, after connect
        self.client_id: str | None = None  # the hub's id of the current connection
        self.last_close: tuple[int, str] | None = None  # code, reason of the last disconnect
        self._token = token
        self._codec = MSGPACK if codec == "msgpack" else JSON
        self._reconnect = reconnect
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._token_provider = token_provider
        self._on_state = on_state
        self._on_push = on_push
        self._state = State.IDLE
        self._conn: _Conn | None = None
        self._subs: dict[str, Subscription] = {}
        self._runner: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._closing = False
        self._random = random.Random()

    # -- lifecycle ------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def personal(self) -> Subscription:
        """The member's personal channel ``member:<id>``, subscribed by the hub."""
        sub = self._subs.get(f"member:{self.member}") if self.member else None
        if sub is None:
            raise ClientError("no personal channel: not connected")
        return sub

    def subscriptions(self) -> dict[str, Subscription]:
        return dict(self._subs)

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection; raise :class:`ConnectError` or :class:`HubError` on failure."""
        if self._state not in (State.IDLE, State.CLOSED):
            raise ClientError(f"already {self._state.value}")
        self._closing = False
        self._set_state(StateChange(State.CONNECTING))
        try:
            conn = await self._open()
        except BaseException as exc:
            code, reason = _describe(exc)
            self.last_close = (code, reason)
            self._finish(code, reason)
            if isinstance(exc, (*_CONNECT_ERRORS, TimeoutError)):
                raise ConnectError(f"cannot connect to {self.url}: {reason}") from exc
            raise
        self._online(conn)
        self._runner = asyncio.get_running_loop().create_task(self._supervise(conn))

    async def close(self) -> None:
        """Close the connection and end every subscription (idempotent)."""
        self._closing = True
        conn, runner = self._conn, self._runner
        if conn is not None:
            await conn.ws.close()
            if conn.reader is not None:
                await asyncio.wait([conn.reader])
        if runner is not None and not runner.done():
            runner.cancel()
            await asyncio.wait([runner])
        if runner is not None and not runner.cancelled() and runner.exception() is not None:
            log.error("%s: supervisor failed", self.name, exc_info=runner.exception())
        self._runner = None
        if self._state is not State.CLOSED:
            self.last_close = (Close.NORMAL, "closed by the client")
            self._finish(Close.NORMAL, "closed by the client")

    def _set_state(self, change: StateChange) -> None:
        self._state = change.state
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)
        if self._on_state is not None:
            try:
                self._on_state(change)
            except Exception:
                log.exception("%s: on_state callback failed", self.name)

    def _online(self, conn: _Conn) -> None:
        self._conn = conn
        self._set_state(StateChange(State.CONNECTED, *(self.last_close or (None, ""))))

    def _finish(self, code: int, reason: str) -> None:
        """Closed for good: end the subscriptions, wake the waiters."""
        self._conn = None
        subs, self._subs = self._subs, {}
        for sub in subs.values():
            sub._end(Ended(EndCause.CLOSED, reason, code))
        self._set_state(StateChange(State.CLOSED, code, reason))

    async def _supervise(self, conn: _Conn) -> None:
        try:
            await self._keep_connected(conn)
        except Exception:  # a bug: do not leave callers waiting for a reconnect
            log.exception("%s: the connection supervisor failed", self.name)
            self.last_close = (_ABNORMAL, "client error")
            if self._conn is not None:
                await self._conn.ws.close()
            self._finish(_ABNORMAL, "client error")

    async def _keep_connected(self, conn: _Conn) -> None:
        """Wait for the connection to drop; reconnect with backoff unless told not to."""
        while True:
            assert conn.reader is not None
            await asyncio.wait([conn.reader])
            self._conn = None
            code, reason = conn.close_info()
            self.last_close = (code, reason)
            for sub in self._subs.values():
                sub._hold()
            if self._closing:
                return
            if not await self._may_reconnect(code, conn.push_reconnect):
                log.info("%s: closed by the hub (%d %s)", self.name, code, reason)
                self._finish(code, reason)
                return
            try:
                conn = await self._reconnect_loop(code, reason)
            except ClientClosed as exc:
                code, reason = _describe(exc.__cause__ or exc)
                self.last_close = (code, reason)
                log.info("%s: cannot reconnect (%d %s)", self.name, code, reason)
                self._finish(code, reason)
                return
            self._online(conn)

    async def _may_reconnect(self, code: int, push_reconnect: bool) -> bool:
        if not self._reconnect or not reconnect_allowed(code):
            return False
        if code == Close.TOKEN_EXPIRED:
            return await self._renew_token()
        return push_reconnect or code == _ABNORMAL

    async def _renew_token(self) -> bool:
        if self._token_provider is None:
            return False
        try:
            token = self._token_provider()
            if inspect.isawaitable(token):
                token = await token
        except Exception:
            log.exception("%s: token_provider failed", self.name)
            return False
        self._token = str(token)
        return True

    async def _reconnect_loop(self, code: int, reason: str) -> _Conn:
        base, cap = self._backoff
        attempt = 0
        while True:
            attempt += 1
            delay = self._random.uniform(0.0, min(cap, base * 2 ** min(attempt - 1, 30)))
            self._set_state(StateChange(State.RECONNECTING, code, reason, attempt, delay))
            await asyncio.sleep(delay)
            try:
                return await self._open()
            except HubError as exc:
                if exc.code == Code.TOKEN_EXPIRED and await self._renew_token():
                    continue
                if exc.code not in _TRANSIENT:
                    raise ClientClosed(str(exc)) from exc
                code, reason = _describe(exc)
            except _CONNECT_ERRORS as exc:
                if isinstance(exc, ConnectionLost) and not await self._may_reconnect(
                    exc.code, True
                ):
                    raise ClientClosed(str(exc)) from exc
                code, reason = _describe(exc)
            log.info("%s: reconnect attempt %d failed: %s", self.name, attempt, reason)

    async def _open(self) -> _Conn:
        """Open a connection, send ``connect`` and bring every subscription up to date."""
        ws = await connect(
            self.url,
            subprotocols=[Subprotocol(self._codec.name)],
            open_timeout=self._connect_timeout,
            compression=None,
            max_size=_MAX_FRAME,
            user_agent_header=f"tongzhi-hub-client ({self.name})",
        )
        conn = _Conn(ws, codec_for(ws.subprotocol))  # JSON if the hub chose none
        conn.reader = asyncio.get_running_loop().create_task(self._read(conn))
        try:
            reply = await self._call(conn, "connect", {"token": self._token}, self._connect_timeout)
            await self._resync(conn, reply)
        except BaseException:
            await ws.close()
            await asyncio.wait([conn.reader])
            raise
        return conn

    # -- frames in -----------------------------------------------------------------------
    async def _read(self, conn: _Conn) -> None:
        closed: ConnectionClosed | None = None
        try:
            while True:
                raw = await conn.ws.recv(decode=False)
                try:
                    frame = conn.codec.decode(raw)
                except DecodeError as exc:
                    log.warning("%s: undecodable frame: %s", self.name, exc)
                    continue
                if isinstance(frame, dict):
                    try:
                        self._on_frame(conn, frame)
                    except Exception:
                        log.exception("%s: failed to handle a frame", self.name)
        except ConnectionClosed as exc:
            closed = exc
        finally:
            conn.lose(closed)

    def _on_frame(self, conn: _Conn, f: dict[str, Any]) -> None:
        push = f.get("push")
        if push is None:
            fut = conn.pending.pop(f["id"], None) if type(f.get("id")) is int else None
            if fut is not None and not fut.done():
                fut.set_result(f)
            return
        if conn.early is not None and push in ("message", "join", "leave", "unsubscribe"):
            conn.early.append(f)
            return
        self._on_push_frame(conn, push, f)

    def _on_push_frame(self, conn: _Conn, push: object, f: dict[str, Any]) -> None:
        channel = f.get("channel")
        sub = self._subs.get(channel) if isinstance(channel, str) else None
        if push == "message":
            if sub is not None:
                sub._live(Message.from_wire(f))
        elif push in ("join", "leave"):
            member = f.get("member")
            if sub is not None and isinstance(member, str):
                sub._presence_event("join" if push == "join" else "leave", member)
        elif push == "unsubscribe":
            if sub is not None and isinstance(channel, str):
                del self._subs[channel]
                sub._end(Ended(EndCause.REVOKED, str(f.get("reason", ""))))
        else:
            if push == "disconnect":
                conn.push_reconnect = bool(f.get("reconnect", True))
                if type(f.get("code")) is int:
                    conn.code, conn.reason = f["code"], str(f.get("reason", ""))
            elif push == "error":
                log.warning("%s: error push %s: %s", self.name, f.get("code"), f.get("message"))
            elif push == "connect":  # authenticated by an upgrade token: the reply's fields
                if isinstance(f.get("member"), str):
                    self.member = f["member"]
                if isinstance(f.get("client"), str):
                    self.client_id = f["client"]
            if self._on_push is not None:
                try:
                    self._on_push(f)
                except Exception:
                    log.exception("%s: on_push callback failed", self.name)

    def _release_early(self, conn: _Conn) -> None:
        early, conn.early = conn.early or [], None
        for f in early:
            try:
                self._on_push_frame(conn, f["push"], f)
            except Exception:
                log.exception("%s: failed to handle a push", self.name)

    # -- requests ------------------------------------------------------------------------
    async def _call(
        self, conn: _Conn, op: str, fields: Mapping[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        if conn.lost:
            raise ConnectionLost(*conn.close_info())
        conn.last_id += 1
        rid = conn.last_id
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        conn.pending[rid] = fut
        try:
            await conn.send({**fields, "id": rid, "op": op})
            async with asyncio.timeout(self._request_timeout if timeout is None else timeout):
                reply = await fut
        except TimeoutError:
            raise RequestTimeout(f"no reply to {op!r} in time") from None
        finally:
            conn.pending.pop(rid, None)
        if reply.get("ok") is not True:
            err = reply.get("error")
            err = err if isinstance(err, dict) else {}
            raise HubError(int(err.get("code", Code.INTERNAL)), str(err.get("message", "")))
        return reply

    async def _ready(self, timeout: float) -> _Conn:
        """The open connection, waiting through a reconnect for at most ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            conn = self._conn
            if self._state is State.CONNECTED and conn is not None and not conn.lost:
                return conn
            if self._state in (State.IDLE, State.CLOSED) or self._closing:
                raise ClientClosed("the client is not connected")
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError:
                raise RequestTimeout("not connected: still reconnecting") from None

    async def request(
        self, op: str, /, *, timeout: float | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Send any op (e.g. an extension like ``receipt``) and return the reply's
        fields; raise :class:`HubError` on ``ok: false``. Waits for a reconnect in
        progress; :class:`ConnectionLost` if the connection drops before the reply.
        (``timeout`` is this call's timeout, not a field: no op of protocol v1 has one.)"""
        t = self._request_timeout if timeout is None else timeout
        conn = await self._ready(t)
        reply = await self._call(conn, op, fields, t)
        reply.pop("id", None)
        reply.pop("ok", None)
        return reply

    async def publish(
        self, channel: str, data: Any, idem: str | None = None, *, timeout: float | None = None
    ) -> Position:
        """Publish ``data`` (any JSON value). With ``idem`` (≤ 64 chars) a retry after
        :class:`ConnectionLost` is safe: the hub stores one message per key."""
        fields: dict[str, Any] = {"channel": channel, "data": data}
        if idem is not None:
            fields["idem"] = idem
        reply = await self.request("publish", timeout=timeout, **fields)
        return Position(int(reply["offset"]), str(reply["epoch"]))

    async def history(
        self,
        channel: str,
        since: Position | None = None,
        before: int | None = None,
        limit: int | None = None,
        *,
        timeout: float | None = None,
    ) -> History:
        """A page of history, oldest first: after ``since``, before ``before``, or the newest."""
        fields: dict[str, Any] = {"channel": channel}
        if since is not None:
            fields["since"] = since.wire()
        if before is not None:
            fields["before"] = before
        if limit is not None:
            fields["limit"] = limit
        reply = await self.request("history", timeout=timeout, **fields)
        return _history(reply)

    async def presence(self, channel: str, *, timeout: float | None = None) -> dict[str, int]:
        """Members present on ``channel`` and how many connections each has."""
        reply = await self.request("presence", timeout=timeout, channel=channel)
        members = reply.get("members") or {}
        return {m: int(v.get("clients", 0)) for m, v in members.items()}

    async def ping(self, *, timeout: float | None = None) -> None:
        await self.request("ping", timeout=timeout)

    # -- subscriptions --------------------------------------------------------------------
    async def subscribe(
        self, channel: str, since: Position | None = None, *, timeout: float | None = None
    ) -> Subscription:
        """Subscribe; with ``since``, start after that position (recovering, or a
        :class:`Reset` first when that is impossible)."""
        if channel in self._subs:
            raise HubError(Code.ALREADY_SUBSCRIBED, f"already subscribed to {channel}")
        t = self._request_timeout if timeout is None else timeout
        conn = await self._ready(t)
        sub = Subscription(self, channel, False, since)
        self._subs[channel] = sub
        try:
            await self._sync_sub(conn, sub, t)
        except BaseException:
            if self._subs.get(channel) is sub:
                del self._subs[channel]
            raise
        sub.active = True
        return sub

    async def unsubscribe(self, channel: str, *, timeout: float | None = None) -> None:
        """Unsubscribe; the subscription's iteration ends (``EndCause.UNSUBSCRIBED``)."""
        sub = self._subs.pop(channel, None)
        if sub is not None:
            sub._end(Ended(EndCause.UNSUBSCRIBED, "unsubscribed by the client"))
        conn = self._conn
        if sub is not None and (conn is None or conn.lost or self._state is not State.CONNECTED):
            return  # the next connection will not subscribe it
        try:
            await self.request("unsubscribe", timeout=timeout, channel=channel)
        except ConnectionLost:
            if sub is None:
                raise
        except HubError as exc:
            if sub is None or exc.code != Code.NOT_SUBSCRIBED:
                raise

    # -- (re)syncing -----------------------------------------------------------------------
    async def _resync(self, conn: _Conn, reply: dict[str, Any]) -> None:
        """After ``connect``: set up server-side channels, re-subscribe the others."""
        self.member = str(reply.get("member"))
        self.client_id = str(reply.get("client"))
        server: dict[str, Position] = {
            ch: Position(int(p["offset"]), str(p["epoch"]))
            for ch, p in (reply.get("subs") or {}).items()
        }
        for ch, sub in list(self._subs.items()):
            if sub.server_side and ch not in server:
                del self._subs[ch]
                sub._end(Ended(EndCause.REVOKED, "no longer subscribed by the hub"))
        fresh: list[Subscription] = []
        for ch, top in server.items():
            if ch not in self._subs:
                sub = self._subs[ch] = Subscription(self, ch, True, None)
                sub._start(top)
                sub.active = True
                fresh.append(sub)
        self._release_early(conn)
        for sub in fresh:
            sub._release()
        try:
            async with asyncio.TaskGroup() as tg:
                for ch, sub in list(self._subs.items()):
                    if sub in fresh or not sub.active:
                        continue
                    if sub.server_side:
                        tg.create_task(self._catch_up_and_release(conn, sub, server[ch]))
                    else:
                        tg.create_task(self._resubscribe(conn, sub))
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None

    async def _resubscribe(self, conn: _Conn, sub: Subscription) -> None:
        try:
            await self._sync_sub(conn, sub, None)
        except HubError as exc:
            if exc.code in _TRANSIENT:
                raise _Retry(str(exc)) from exc
            if self._subs.get(sub.channel) is sub:
                del self._subs[sub.channel]
            sub._end(Ended(EndCause.REFUSED, exc.message, exc.code))

    async def _sync_sub(self, conn: _Conn, sub: Subscription, timeout: float | None) -> None:
        since = sub._since()
        fields: dict[str, Any] = {"channel": sub.channel}
        if since is not None:
            fields["since"] = since.wire()
        reply = await self._call(conn, "subscribe", fields, timeout)
        top = Position(int(reply["offset"]), str(reply["epoch"]))
        if since is None:
            sub._start(top)
        else:
            recovered = None
            if reply.get("recovered") is True:
                recovered = [Message.from_wire(m) for m in reply.get("messages") or ()]
            await self._catch_up(conn, sub, top, recovered)
        sub._release()

    async def _catch_up_and_release(self, conn: _Conn, sub: Subscription, top: Position) -> None:
        await self._catch_up(conn, sub, top, None)
        sub._release()

    async def _catch_up(
        self, conn: _Conn, sub: Subscription, top: Position, recovered: list[Message] | None
    ) -> None:
        """Bring ``sub`` to ``top``: recovered messages, else history, else a Reset."""
        q = sub._queued
        assert q is not None
        if top.epoch != q.epoch:
            sub._reset(top, "the channel's epoch changed")
            return
        if top.offset < q.offset:
            sub._reset(top, "the channel is behind the client's position")
            return
        for msg in recovered or ():
            sub._accept(msg)
        while (q := sub._queued) is not None and q.offset < top.offset:
            fields = {"channel": sub.channel, "since": q.wire(), "limit": _HISTORY_PAGE}
            try:
                page = _history(await self._call(conn, "history", fields))
            except HubError as exc:
                if exc.code in _TRANSIENT:
                    raise _Retry(str(exc)) from exc
                sub._reset(top, f"history cannot fill the gap: {exc.message}")
                return
            if (
                page.epoch != q.epoch
                or not page.messages
                or page.messages[0].offset != q.offset + 1
            ):
                sub._reset(top, "history cannot fill the gap")
                return
            for msg in page.messages:
                sub._accept(msg)


def _history(reply: Mapping[str, Any]) -> History:
    return History(
        [Message.from_wire(m) for m in reply.get("messages") or ()],
        int(reply["offset"]),
        str(reply["epoch"]),
    )


_CONNECT_ERRORS: Final = (OSError, InvalidHandshake, ConnectionClosed, ClientError, _Retry)
# the close codes the hub uses when it refuses ``connect`` with these error codes
_REFUSAL_CLOSE: Final[dict[int, int]] = {
    Code.UNAUTHORIZED: Close.UNAUTHORIZED,
    Code.BAD_REQUEST: Close.UNAUTHORIZED,
    Code.PERMISSION_DENIED: Close.UNAUTHORIZED,
    Code.TOKEN_EXPIRED: Close.TOKEN_EXPIRED,
}


def _describe(exc: BaseException) -> tuple[int, str]:
    """A close code and reason for a failed connection attempt."""
    if isinstance(exc, ConnectionLost):
        return exc.code, exc.reason
    if isinstance(exc, HubError):
        return _REFUSAL_CLOSE.get(exc.code, _ABNORMAL), exc.message
    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
        return exc.rcvd.code, exc.rcvd.reason
    return _ABNORMAL, f"{type(exc).__name__}: {exc}".rstrip(": ")


# -- CLI ------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hub.client", description="A hub client.")
    p.add_argument("--url", default=os.environ.get("HUB_URL", "ws://127.0.0.1:8080/ws"))
    p.add_argument("--token", default=os.environ.get("HUB_CLIENT_TOKEN"), help="JWT")
    p.add_argument("--msgpack", action="store_true", help="use hub.v1.msgpack")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("subscribe", help="print each message as a JSON line; reconnects")
    s.add_argument("channels", nargs="+", metavar="CHANNEL")
    s = sub.add_parser("publish", help="publish DATA_JSON; prints {offset, epoch}")
    s.add_argument("channel", metavar="CHANNEL")
    s.add_argument("data", metavar="DATA_JSON")
    s.add_argument("--idem", default=None, help="idempotency key")
    s = sub.add_parser("history", help="print {messages, offset, epoch}")
    s.add_argument("channel", metavar="CHANNEL")
    s.add_argument("--limit", type=int, default=None)
    s = sub.add_parser("presence", help="print {member: connections}")
    s.add_argument("channel", metavar="CHANNEL")
    s = sub.add_parser("call", help="any op (e.g. receipt, read): print its reply")
    s.add_argument("op", metavar="OP")
    s.add_argument("fields", metavar="FIELDS_JSON", nargs="?", default="{}")
    return p


def _print(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


def _item_line(item: Item) -> dict[str, Any]:
    if isinstance(item, Message):
        return item.wire()
    return {
        "reset": {
            "channel": item.channel,
            "previous": item.previous.wire(),
            "position": item.position.wire(),
            "reason": item.reason,
        }
    }


async def _cli_subscribe(c: Client, channels: Sequence[str]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    subs = [await c.subscribe(ch) for ch in channels]

    async def pump(sub: Subscription) -> None:
        async for item in sub:
            _print(_item_line(item))

    tasks = [loop.create_task(pump(s)) for s in subs]
    stopper = loop.create_task(stop.wait())
    await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    for t in (*tasks, stopper):
        t.cancel()
    await asyncio.wait([*tasks, stopper])
    if stop.is_set():
        return 0
    ended = [s.ended for s in subs if s.ended is not None]
    for e in ended:
        sys.stderr.write(f"subscription ended: {e.cause.value} {e.code or ''} {e.reason}\n")
    return 1


async def _cli(args: argparse.Namespace) -> int:
    def on_state(ch: StateChange) -> None:
        extra = f" ({ch.code} {ch.reason})" if ch.code is not None else ""
        sys.stderr.write(f"{ch.state.value}{extra}\n")

    c = Client(
        args.url,
        args.token,
        codec="msgpack" if args.msgpack else "json",
        reconnect=args.command == "subscribe",
        on_state=on_state if args.command == "subscribe" else None,
        name="cli",
    )
    await c.connect()
    try:
        if args.command == "subscribe":
            return await _cli_subscribe(c, args.channels)
        if args.command == "publish":
            pos = await c.publish(args.channel, orjson.loads(args.data), args.idem)
            _print(pos.wire())
        elif args.command == "history":
            h = await c.history(args.channel, limit=args.limit)
            _print(
                {"messages": [m.wire() for m in h.messages], "offset": h.offset, "epoch": h.epoch}
            )
        elif args.command == "call":
            _print(await c.request(args.op, **orjson.loads(args.fields)))
        else:
            _print(await c.presence(args.channel))
        return 0
    finally:
        await c.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hub.client``: subscribe, publish, history, presence, call."""
    args = _parser().parse_args(argv)
    if not args.token:
        sys.stderr.write("a token is required (--token or HUB_CLIENT_TOKEN)\n")
        return 2
    if args.command in ("publish", "call"):
        raw = args.data if args.command == "publish" else args.fields
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            sys.stderr.write(f"{raw!r} is not JSON: {exc}\n")
            return 2
        if args.command == "call" and not isinstance(value, dict):
            sys.stderr.write("FIELDS_JSON must be a JSON object\n")
            return 2
    try:
        return asyncio.run(_cli(args))
    except HubError as exc:
        sys.stderr.write(f"error {exc}\n")
        return 1
    except ClientError as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
