"""The node: this process's sessions, subscribing (broker, presence, positions),
authentication, publishing, liveness and shutdown.

It owns the :class:`~hub.core.local.Local` indexes (channels, members; the
broker's publications go straight to their fan-out) and the
:class:`~hub.core.outbox.Outbox` (the per-loop-turn writes). It never imports the
op handlers: the composition root attaches them as :attr:`Node.dispatcher`
(:class:`hub.core.ops.Ops`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson

from hub.auth import Identity, TokenVerifier
from hub.config import Settings
from hub.core.authz import Authorizer
from hub.core.interfaces import Broker, Presence
from hub.core.local import Local, LocalChannel
from hub.core.outbox import Outbox
from hub.core.session import Dispatch, Session, SessionState
from hub.core.stats import Stats
from hub.core.types import HistoryPage, Position, Publication, PublishResult
from hub.protocol.errors import Close, Code, HubError
from hub.protocol.names import namespace_of
from hub.protocol.requests import Since
from hub.protocol.websocket import ping_frame

__all__ = [
    "EVENTS_CHANNEL",
    "Authenticated",
    "ConnectHook",
    "EventHandler",
    "LocalChannel",
    "Node",
    "PublishHook",
    "Subscribed",
    "default_node_id",
]

log = logging.getLogger("hub.node")

ConnectHook = Callable[[Session], Awaitable[dict[str, Any] | None]]
DisconnectHook = Callable[[Session], None]
# after an accepted (not duplicate) publish: (identity or None for the API, channel, result)
PublishHook = Callable[[Identity | None, str, PublishResult], None]
EventHandler = Callable[[dict[str, Any]], Awaitable[None] | None]

_PING = ping_frame(b"")
CONNECTS_IN_FLIGHT = 32
# Events between the processes of one hub travel on this broker channel; its name is
# not a valid channel name, so no client can subscribe to it or publish on it.
EVENTS_CHANNEL = "_hub:events"
_NO_JOIN_LEAVE = frozenset({"member", "notice"})


def default_node_id() -> str:
    """``<host>-<pid><random>``: unique per process, also between two hubs on one host
    (two units, containers with host networking, where pids may repeat)."""
    host = socket.gethostname().split(".")[0] or "hub"
    return f"{host}-{os.getpid():x}{secrets.token_hex(3)}"


@dataclass(slots=True)
class Subscribed:
    position: Position
    recovered: bool | None  # None: no recovery was asked
    recovered_pubs: list[Publication] = field(default_factory=list)
    live_tail: list[Publication] = field(default_factory=list)
    announce: bool = False  # send a join push (after the reply)
    # until :meth:`Node.go_live`: the channel, and publications held meanwhile
    local: LocalChannel | None = None
    held: list[Publication] = field(default_factory=list)


@dataclass(slots=True)
class Authenticated:
    """The ``connect`` reply's fields, and what to send after the reply: publications
    that arrived while positions were read, and the channels to announce a join in."""

    fields: dict[str, Any]
    tail: list[Publication]
    joins: list[str]


class Node:
    dispatcher: Dispatch  # the op handlers, attached by the composition root
    # the broker's publications go straight to the local fan-out (no hop through Node)
    on_publication: Callable[[Publication], None]

    def __init__(
        self,
        settings: Settings,
        broker: Broker,
        presence: Presence,
        authorizer: Authorizer,
        verifier: TokenVerifier,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.presence = presence
        self.authorizer = authorizer
        self.verifier = verifier
        self.stats = Stats()
        self.outbox = Outbox(settings, self.stats)
        self.local = Local(self.stats)
        self.channels: dict[str, LocalChannel] = self.local.channels
        self.on_publication = self.local.on_publication
        self.clients: dict[str, Session] = {}  # authenticated
        self.unauthenticated: dict[Session, None] = {}
        self.connect_hooks: list[ConnectHook] = []
        self.disconnect_hooks: list[DisconnectHook] = []
        self.publish_hooks: list[PublishHook] = []
        self._event_handlers: dict[str, list[EventHandler]] = {}
        self._connect_slots = asyncio.Semaphore(CONNECTS_IN_FLIGHT)
        # node_id names this process in logs and client ids; it may be configured, so two
        # processes may share it (two supervisors' "<host>-w0"). ``instance`` is this
        # process's own random token: compare it, never the name, to tell an echo of
        # one's own event (see :meth:`emit`), and it keeps client ids unique.
        self.instance = secrets.token_hex(8)
        self.node_id = settings.node_id or default_node_id()
        self._client_prefix = f"{self.node_id}.{self.instance[:6]}-"
        self.closing = False
        self.connections = 0  # open transports, authenticated or not
        self._counter = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        self._loop = self.outbox.loop = asyncio.get_running_loop()
        await self.broker.start(self)
        await self.broker.subscribe(EVENTS_CHANNEL)
        self._sweeper = self._loop.create_task(self._ping_loop())

    # -- events between the processes of a hub ------------------------------------------
    def on_event(self, kind: str, handler: EventHandler) -> None:
        """Call ``handler(payload)`` in every process when any process :meth:`emit`s ``kind``."""
        self._event_handlers.setdefault(kind, []).append(handler)

    async def emit(self, kind: str, payload: dict[str, Any]) -> None:
        """Tell every process of the hub (this one included), e.g. that the directory changed.

        Every process gets it, whatever its name; a handler that must tell its own
        process's events apart puts :attr:`instance` in the payload and compares it."""
        await self.broker.publish_control(
            EVENTS_CHANNEL, {"push": "_event", "kind": kind, "payload": payload}
        )

    def _dispatch_event(self, push: dict[str, Any]) -> None:
        for handler in self._event_handlers.get(str(push.get("kind")), ()):
            try:
                result = handler(push.get("payload") or {})
            except Exception:
                log.exception("event handler failed")
                continue
            if asyncio.iscoroutine(result):
                self.spawn(result)

    async def shutdown(self, deadline: float = 5.0) -> None:
        """Tell every client to reconnect elsewhere (4012), then close the broker."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for c in [*self.clients.values(), *self.unauthenticated]:
            c.disconnect(Close.SHUTDOWN, "server shutting down", True)
        self.flush()
        end = time.monotonic() + deadline
        while self._tasks and time.monotonic() < end:
            await asyncio.wait(list(self._tasks), timeout=max(0.0, end - time.monotonic()))
        await self.broker.close()
        await self.presence.close()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def transport_opened(self) -> None:
        """A transport (authenticated or not) opened: counted in :attr:`connections`."""
        self.connections += 1

    def transport_closed(self) -> None:
        self.connections -= 1

    def next_client_id(self) -> str:
        """``<node id>.<instance>-<n>``: unique even when two processes share a node id."""
        self._counter += 1
        return f"{self._client_prefix}{self._counter:x}"

    # -- output ------------------------------------------------------------------
    def flush(self) -> None:
        """Write every session's queued frames now (:meth:`Outbox.flush`)."""
        self.outbox.flush()

    @property
    def _flush_handle(self) -> asyncio.Handle | None:
        """The flush due, if any (:attr:`Outbox.handle`)."""
        return self.outbox.handle

    # -- broker events -------------------------------------------------------------
    def on_control(self, channel: str, push: dict[str, Any]) -> None:
        if channel == EVENTS_CHANNEL:
            self._dispatch_event(push)
            return
        ch = self.channels.get(channel)
        if ch is None:
            return
        self.local.broadcast(ch, push)

    def on_resubscribed(self) -> None:
        log.warning("broker re-subscribed; clients recover missed messages on reconnect")

    # -- authentication ------------------------------------------------------------
    async def authenticate(self, client: Session, identity: Identity) -> Authenticated:
        """Make ``client`` act as ``identity``: server-side subscriptions and hooks.

        At most ``CONNECTS_IN_FLIGHT`` run at once: a storm of (re)connects, e.g. after
        a restart, queues here instead of piling up coroutines, queries and buffers
        whose peak the process would keep as fragmented memory."""
        async with self._connect_slots:
            return await self._authenticate(client, identity)

    async def _authenticate(self, client: Session, identity: Identity) -> Authenticated:
        if client.state >= SessionState.CLOSING:  # closed while it waited for a slot
            raise HubError(Code.UNAVAILABLE, "connection closed during connect")
        client.identity = identity
        client.state = SessionState.OPEN
        self.unauthenticated.pop(client, None)
        if client.timer is not None:
            client.timer.cancel()
            client.timer = None
        self.clients[client.id] = client
        self.local.add_member(identity.member, client)
        self.stats.connections_total += 1
        self._arm_expiry(client, identity)
        subs: dict[str, dict[str, Any]] = {}
        done = Authenticated({}, [], [])
        # Server-side channels go live only once the reply is ready: publications
        # meanwhile (position reads, connect hooks) are held and follow the reply.
        pending: list[tuple[str, Subscribed]] = []
        try:
            for channel in await self.authorizer.server_channels(identity):
                if channel in client.subs:
                    continue
                got = await self.subscribe(client, channel, None, live=False)
                pending.append((channel, got))
                subs[channel] = {"offset": got.position.offset, "epoch": got.position.epoch}
            fields: dict[str, Any] = {
                "client": client.id,
                "member": identity.member,
                "ping": int(self.settings.ping_interval),
                "subs": subs,
            }
            for hook in self.connect_hooks:
                extra = await hook(client)
                if extra:
                    fields.update(extra)
        finally:
            for channel, got in pending:
                try:
                    self.go_live(client, channel, got)
                except HubError:  # the connection closed meanwhile
                    continue
                done.tail.extend(got.live_tail)
                if got.announce:
                    done.joins.append(channel)
        done.fields = fields
        return done

    def after_reply(self, client: Session, tail: list[Publication], joins: list[str]) -> None:
        """What follows a subscribe or connect reply: held publications, then joins."""
        for p in tail:
            client.enqueue(p.frame(client.codec))
        member = client.member
        if member is not None:
            for channel in joins:
                self.spawn(
                    self.broker.publish_control(
                        channel, {"push": "join", "channel": channel, "member": member}
                    )
                )

    def _arm_expiry(self, client: Session, identity: Identity) -> None:
        if client.timer is not None:
            client.timer.cancel()
            client.timer = None
        if identity.exp is not None:
            delay = max(0.0, identity.exp - time.time())
            loop = self._loop or asyncio.get_running_loop()
            client.timer = loop.call_later(
                delay, client.disconnect, Close.TOKEN_EXPIRED, "token expired", True
            )

    def connections_of(self, member: str) -> list[Session]:
        """This process's authenticated connections of ``member``."""
        return self.local.connections_of(member)

    def refresh(self, client: Session, identity: Identity) -> None:
        if identity.member != client.member:
            raise HubError(Code.PERMISSION_DENIED, "a new token must be for the same member")
        client.identity = identity
        self._arm_expiry(client, identity)

    # -- subscriptions -------------------------------------------------------------
    async def subscribe(
        self, client: Session, channel: str, since: Since | None, *, live: bool = True
    ) -> Subscribed:
        """Subscribe ``client``; with ``live=False`` publications are held until the
        caller's :meth:`go_live` (they then follow its reply)."""
        if channel in client.subs:
            raise HubError(Code.ALREADY_SUBSCRIBED, f"already subscribed to {channel}")
        if len(client.subs) >= self.settings.max_subscriptions:
            raise HubError(Code.LIMIT_EXCEEDED, "too many subscriptions")
        client.subs[channel] = None
        ch = self.channels.get(channel)
        first = ch is None
        if ch is None:
            ch = self.channels[channel] = LocalChannel()
        if ch.pending is None:
            ch.pending = {}
        buf: list[Publication] = []
        ch.pending[client] = buf
        try:
            if first:
                ready = ch.ready = asyncio.get_running_loop().create_future()
                try:
                    await self.broker.subscribe(channel)
                except BaseException as exc:
                    ch.ready = None  # those waiting fail too; the next subscribe tries again
                    ready.set_exception(exc)
                    ready.exception()
                    raise
                ready.set_result(None)
                ch.ready = None
            elif ch.ready is not None:
                await asyncio.shield(ch.ready)
            if since is None:
                got = Subscribed(await self.broker.position(channel), None)
            else:
                rec = await self.broker.recover(channel, since)
                got = Subscribed(rec.position, rec.recovered, rec.publications)
        except BaseException:
            self._leave_local(client, channel, ch)
            raise
        member = client.member
        assert member is not None
        self._check_staying(client, channel, ch)
        try:  # presence is current when we reply; the join push follows the reply
            first_of_member = await self.presence.add(channel, member, client.id)
        except Exception:
            log.warning("presence unavailable: subscribe to %s refused", channel, exc_info=True)
            self._leave_local(client, channel, ch)
            raise HubError(Code.UNAVAILABLE, "presence is unavailable, retry") from None
        try:
            self._check_staying(client, channel, ch)
        except HubError:  # its leave may have been recorded before this add: undo it
            self.spawn(self.presence.remove(channel, member, client.id))
            raise
        got.local, got.held, got.announce = ch, buf, first_of_member
        if live:
            self.go_live(client, channel, got)
        return got

    def go_live(self, client: Session, channel: str, got: Subscribed) -> None:
        """From now on publications go to the client directly; those held since the
        position was read are in ``got.live_tail`` (108 if the client left meanwhile)."""
        ch = got.local
        assert ch is not None
        self._check_staying(client, channel, ch)
        if ch.pending is not None:
            ch.pending.pop(client, None)
            if not ch.pending:
                ch.pending = None
        ch.add(client)
        top = got.position.offset
        got.live_tail = [p for p in got.held if p.offset > top]
        got.held = []
        got.announce = got.announce and self._join_leave(channel)

    def _check_staying(self, client: Session, channel: str, ch: LocalChannel) -> None:
        """Raise 108 when the connection closed (or left the channel) during a subscribe."""
        if (
            client.state != SessionState.OPEN
            or channel not in client.subs
            or self.channels.get(channel) is not ch
        ):
            self._leave_local(client, channel, ch)
            raise HubError(Code.UNAVAILABLE, "connection closed during subscribe")

    async def _left(self, channel: str, member: str, client_id: str) -> None:
        last = await self.presence.remove(channel, member, client_id)
        if last and self._join_leave(channel):
            await self.broker.publish_control(
                channel, {"push": "leave", "channel": channel, "member": member}
            )

    def _join_leave(self, channel: str) -> bool:
        """Join/leave pushes cost O(subscribers) each, O(n²) while a channel fills up:
        large broadcast channels go without them (presence still answers)."""
        s = self.settings
        if not s.join_leave or namespace_of(channel) in _NO_JOIN_LEAVE:
            return False
        ch = self.channels.get(channel)
        return ch is None or len(ch) <= s.join_leave_max

    def _leave_local(self, client: Session, channel: str, ch: LocalChannel | None) -> None:
        if self.local.leave(client, channel, ch):
            self.spawn(self.broker.unsubscribe(channel))

    def unsubscribe(self, client: Session, channel: str) -> None:
        if channel not in client.subs:
            raise HubError(Code.NOT_SUBSCRIBED, f"not subscribed to {channel}")
        self._leave_local(client, channel, self.channels.get(channel))
        if client.member is not None:
            self.spawn(self._left(channel, client.member, client.id))

    def revoke(self, member: str, channel: str, reason: str) -> int:
        """Unsubscribe every connection of ``member`` from ``channel`` (a permission
        was withdrawn), telling each with an ``unsubscribe`` push. Returns how many."""
        n = 0
        for c in self.connections_of(member):
            if channel in c.subs:
                self.unsubscribe(c, channel)
                c.send({"push": "unsubscribe", "channel": channel, "reason": reason})
                n += 1
        return n

    def forget(self, client: Session) -> None:
        """Drop a closing or closed client from every channel (idempotent)."""
        self.unauthenticated.pop(client, None)
        if self.clients.pop(client.id, None) is None and not client.subs:
            return
        member = client.member
        if member is not None:
            self.local.remove_member(member, client)
        for channel in list(client.subs):
            self._leave_local(client, channel, self.channels.get(channel))
            if member is not None:
                self.spawn(self._left(channel, member, client.id))
        for hook in self.disconnect_hooks:
            try:
                hook(client)
            except Exception:
                log.exception("disconnect hook failed")

    # -- publishing and reading ------------------------------------------------------
    async def publish(
        self,
        identity: Identity | None,
        channel: str,
        data: Any,
        idem: str | None,
        *,
        wait: bool = True,
    ) -> PublishResult:
        """Publish as ``identity`` (None: the server API, which may publish anywhere).

        With ``wait`` it returns once the publication is durable (raising 108 if the
        store failed); without, ``result.committed`` (if set) is still to be awaited
        — see :meth:`committed` — so one client's next request need not wait."""
        if identity is not None:
            await self.authorizer.check_publish(identity, channel)
        try:
            data_json = orjson.dumps(data)
        except TypeError:
            raise HubError(Code.BAD_REQUEST, "'data' must be a JSON value") from None
        if len(data_json) > self.settings.max_data_size:  # the size limit first: 106
            raise HubError(
                Code.LIMIT_EXCEEDED, f"'data' is larger than {self.settings.max_data_size} bytes"
            )
        if identity is not None:  # then the namespace's own rules (e.g. a chat message)
            self.authorizer.validate_data(identity, channel, data)
        if self.closing:
            raise HubError(Code.UNAVAILABLE, "server shutting down")
        t0 = time.perf_counter()
        result = await self.broker.publish(
            channel, data, data_json, None if identity is None else identity.member, idem
        )
        if not result.duplicate:
            self.stats.messages_in += 1
            for hook in self.publish_hooks:
                try:
                    hook(identity, channel, result)
                except Exception:
                    log.exception("publish hook failed")
        fut = result.committed
        if fut is None or fut.done():
            self.committed(result)
            self.stats.observe_publish(time.perf_counter() - t0)
        elif wait:
            try:
                await asyncio.shield(fut)
            except Exception:
                pass
            finally:
                self.stats.observe_publish(time.perf_counter() - t0)
            self.committed(result)
        else:
            fut.add_done_callback(lambda _: self.stats.observe_publish(time.perf_counter() - t0))
        return result

    @staticmethod
    def committed(result: PublishResult) -> None:
        """Raise 108 when the publication's write failed (call once it is done)."""
        fut = result.committed
        if fut is not None and (fut.cancelled() or fut.exception() is not None):
            raise HubError(Code.UNAVAILABLE, "the store did not take the message")

    async def history(
        self,
        identity: Identity | None,
        channel: str,
        since: Since | None,
        before: int | None,
        limit: int,
    ) -> HistoryPage:
        if identity is not None:
            await self.authorizer.check_subscribe(identity, channel)
        return await self.broker.history(channel, since, before, limit)

    async def presence_of(self, identity: Identity | None, channel: str) -> dict[str, int]:
        if identity is not None:
            await self.authorizer.check_subscribe(identity, channel)
        return await self.presence.get(channel)

    # -- liveness ------------------------------------------------------------------------
    async def _ping_loop(self) -> None:
        interval = self.settings.ping_interval
        while True:
            await asyncio.sleep(interval)
            await self.ping_all()

    async def ping_all(self, chunk: int = 2000) -> None:
        """Close clients that did not answer the last ping; ping the others."""
        clients = list(self.clients.values())
        for start in range(0, len(clients), chunk):
            for c in clients[start : start + chunk]:
                if c.state != SessionState.OPEN:
                    continue
                if not c.alive:
                    c.disconnect(Close.GOING_AWAY, "no answer to ping", True)
                    continue
                c.alive = False
                c.enqueue(_PING)
            await asyncio.sleep(0)
