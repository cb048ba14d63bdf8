"""The op handlers: frames in, replies out. One handler per op; the domain
registers extra ops (e.g. ``receipt``) with :meth:`Ops.register`.

This is the top of the engine core: it calls the node (subscribe, publish, …) and
the sessions; the node never imports it. The composition root makes one per node:
``Ops(node)`` attaches itself as ``node.dispatcher``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from hub.auth import Identity
from hub.core.interfaces import backend_unavailable
from hub.core.node import Node
from hub.core.session import Handler, Session, SessionState
from hub.protocol.codec import DecodeError
from hub.protocol.errors import Close, Code, HubError
from hub.protocol.requests import (
    BUILTIN_VALIDATORS,
    FrameError,
    Request,
    Validator,
    parse_request,
    req_str,
)

__all__ = ["REPLIED", "Handler", "Ops"]

log = logging.getLogger("hub.dispatch")

REPLIED: Final = object()  # a handler that wrote its reply itself returns this

_BAD_FRAMES_CLOSE: Final = 50  # malformed frames (net of good ones) before 4008


def _v_connect(f: Any) -> dict[str, Any]:
    token = f.get("token")
    if token is None:
        return {"token": None}
    return {"token": req_str(f, "token", 16384)}


def _v_refresh(f: Any) -> dict[str, Any]:
    return {"token": req_str(f, "token", 16384)}


class Ops:
    def __init__(self, node: Node) -> None:
        self.node = node
        node.dispatcher = self
        self.validators: dict[str, Validator] = dict(BUILTIN_VALIDATORS)
        self.validators["connect"] = _v_connect
        self.validators["refresh"] = _v_refresh
        self._handlers: dict[str, Handler] = {
            "connect": self._connect,
            "refresh": self._refresh,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "publish": self._publish,
            "history": self._history,
            "presence": self._presence,
            "ping": self._ping,
            "_auth": self._auth,
        }

    def register(self, op: str, validator: Validator, handler: Handler) -> None:
        """Add an op (the domain's ``receipt``, ``read``, …) or replace one."""
        self.validators[op] = validator
        self._handlers[op] = handler

    def handler(self, op: str) -> Handler | None:
        """The handler currently registered for ``op``."""
        return self._handlers.get(op)

    # -- frames --------------------------------------------------------------------
    def on_frame(self, client: Session, payload: bytes) -> None:
        """A complete data frame from ``client``: decode, validate, rate-limit, queue."""
        client.alive = True
        try:
            req = parse_request(client.codec.decode(payload), self.validators)
        except DecodeError as exc:
            self._bad_frame(client, None, Code.BAD_REQUEST, str(exc))
            return
        except FrameError as exc:
            self._bad_frame(client, exc.id, exc.code, exc.message)
            return
        if not client.take_token(time.monotonic()):
            client.reply_error(req.id, Code.TOO_MANY_REQUESTS, "too many requests")
            if client.strikes > self.node.settings.rate_burst:
                client.close_after_requests(Close.RATE_LIMITED, "rate limit exceeded", True)
            return
        if client.bad:
            client.bad -= 1
        client.submit(req)

    def _bad_frame(self, client: Session, rid: int | None, code: int, message: str) -> None:
        if rid is None:
            client.push_error(code, message)
        else:
            client.reply_error(rid, code, message)
        if (
            not client.take_token(time.monotonic())
            and client.strikes > self.node.settings.rate_burst
        ):
            client.close_after_requests(Close.RATE_LIMITED, "rate limit exceeded", True)
            return
        client.bad += 1
        if client.bad >= _BAD_FRAMES_CLOSE:
            client.close_after_requests(Close.POLICY_VIOLATION, "too many malformed frames", False)

    def oversized(self, client: Session) -> None:
        """A frame larger than the transport reads: refuse it, close if it goes on."""
        client.push_error(Code.LIMIT_EXCEEDED, "frame too large")
        client.bad += 5
        if client.bad >= _BAD_FRAMES_CLOSE:
            client.close_after_requests(Close.MESSAGE_TOO_BIG, "frames too large", False)

    # -- requests ------------------------------------------------------------------
    async def handle(self, client: Session, req: Request) -> None:
        if client.state != SessionState.OPEN and req.op not in ("connect", "_auth"):
            client.reply_error(req.id, Code.UNAUTHORIZED, "connect first")
            return
        handler = self._handlers.get(req.op)
        if handler is None:  # validated ops always have a handler; internal ones may not
            client.reply_error(req.id, Code.UNKNOWN_OP, f"unknown op: {req.op}")
            return
        try:
            fields = await handler(client, req)
        except HubError as exc:
            if req.id:
                client.reply_error(req.id, exc.code, exc.message)
            if req.op in ("connect", "_auth") and client.state != SessionState.OPEN:
                self._refuse(client, exc)
            elif exc.code == Code.LIMIT_EXCEEDED and req.op == "publish":
                client.bad += 5
                if client.bad >= _BAD_FRAMES_CLOSE:
                    client.close_after_requests(Close.MESSAGE_TOO_BIG, "messages too large", False)
            return
        except Exception as exc:
            if backend_unavailable(exc):  # a store or broker out of reach
                log.warning("op %s: backend unavailable: %r", req.op, exc)
                if req.id:
                    client.reply_error(req.id, Code.UNAVAILABLE, "service unavailable, retry")
                return
            log.exception("op %s failed", req.op)
            if req.id:
                client.reply_error(req.id, Code.INTERNAL, "internal error")
            return
        if fields is not REPLIED and req.id:
            client.reply(req.id, fields if isinstance(fields, dict) else None)

    def _refuse(self, client: Session, exc: HubError) -> None:
        if exc.code == Code.TOKEN_EXPIRED:
            client.disconnect(Close.TOKEN_EXPIRED, exc.message, True)
        elif exc.code in (Code.UNAUTHORIZED, Code.BAD_REQUEST, Code.PERMISSION_DENIED):
            client.disconnect(Close.UNAUTHORIZED, exc.message, False)
        else:  # 108 and the like: transient, try again
            client.disconnect(Close.SHUTDOWN if self.node.closing else 1011, exc.message, True)

    def authenticate_later(self, client: Session, identity: Identity) -> None:
        """A token given at the upgrade: authenticate before any queued request."""
        client.submit(Request(0, "_auth", {"identity": identity}))

    # -- ops -----------------------------------------------------------------------
    async def _auth(self, client: Session, req: Request) -> object:
        """Authenticate with the upgrade token. No ``connect`` reply is due, so the
        fields it would carry (the engine's and the connect hooks') come as the
        ``connect`` push, the first frame after the upgrade."""
        done = await self.node.authenticate(client, req.args["identity"])
        push: dict[str, Any] = {"push": "connect"}
        push.update((k, v) for k, v in done.fields.items() if k != "push")
        client.send(push)
        self.node.after_reply(client, done.tail, done.joins)
        return REPLIED

    async def _connect(self, client: Session, req: Request) -> object:
        token = req.args["token"]
        node = self.node
        if client.state == SessionState.OPEN:
            if token is not None:
                node.refresh(client, node.verifier.verify(token))
            return await self._connect_info(client)
        if token is None:
            raise HubError(Code.UNAUTHORIZED, "'token' is required")
        done = await node.authenticate(client, node.verifier.verify(token))
        client.reply(req.id, done.fields)
        node.after_reply(client, done.tail, done.joins)
        return REPLIED

    async def _connect_info(self, client: Session) -> dict[str, Any]:
        node = self.node
        identity = client.identity
        assert identity is not None
        subs: dict[str, dict[str, Any]] = {}
        for channel in await node.authorizer.server_channels(identity):
            if channel in client.subs:
                pos = await node.broker.position(channel)
                subs[channel] = {"offset": pos.offset, "epoch": pos.epoch}
        return {
            "client": client.id,
            "member": identity.member,
            "ping": int(node.settings.ping_interval),
            "subs": subs,
        }

    async def _refresh(self, client: Session, req: Request) -> dict[str, Any]:
        identity = self.node.verifier.verify(req.args["token"])
        self.node.refresh(client, identity)
        return {"exp": identity.exp}

    async def _subscribe(self, client: Session, req: Request) -> object:
        channel = req.args["channel"]
        since = req.args["since"]
        identity = client.identity
        assert identity is not None
        if channel in client.subs:
            raise HubError(Code.ALREADY_SUBSCRIBED, f"already subscribed to {channel}")
        await self.node.authorizer.check_subscribe(identity, channel)
        got = await self.node.subscribe(client, channel, since)
        fields: dict[str, Any] = {
            "channel": channel,
            "offset": got.position.offset,
            "epoch": got.position.epoch,
        }
        if since is not None:
            fields["recovered"] = bool(got.recovered)
            fields["messages"] = [p.push() for p in got.recovered_pubs]
        client.reply(req.id, fields)
        self.node.after_reply(client, got.live_tail, [channel] if got.announce else [])
        return REPLIED

    async def _unsubscribe(self, client: Session, req: Request) -> dict[str, Any]:
        self.node.unsubscribe(client, req.args["channel"])
        return {}

    async def _publish(self, client: Session, req: Request) -> object:
        args = req.args
        node = self.node
        res = await node.publish(
            client.identity, args["channel"], args["data"], args["idem"], wait=False
        )
        fields = {"offset": res.offset, "epoch": res.epoch}
        fut = res.committed
        if fut is None or fut.done():
            node.committed(res)
            return fields

        def acknowledge(_: object) -> None:  # the next request did not wait for this
            client.acks -= 1
            try:
                node.committed(res)
            except HubError as exc:
                client.reply_error(req.id, exc.code, exc.message)
            else:
                client.reply(req.id, fields)
            client.end_if_done()

        client.acks += 1
        fut.add_done_callback(acknowledge)
        return REPLIED

    async def _history(self, client: Session, req: Request) -> dict[str, Any]:
        args = req.args
        page = await self.node.history(
            client.identity, args["channel"], args["since"], args["before"], args["limit"]
        )
        return {
            "messages": [p.push() for p in page.publications],
            "offset": page.position.offset,
            "epoch": page.position.epoch,
        }

    async def _presence(self, client: Session, req: Request) -> dict[str, Any]:
        members = await self.node.presence_of(client.identity, req.args["channel"])
        return {"members": {m: {"clients": n} for m, n in members.items()}}

    async def _ping(self, client: Session, req: Request) -> dict[str, Any]:
        return {}
