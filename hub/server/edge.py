"""Limits of the HTTP edge: how long and how many requests may stay incomplete,
and how malformed HTTP is answered.

* A connection has ``head_timeout`` seconds to send its first complete request
  head (:class:`hub.server.ws.FrontProtocol` enforces it, the ``/ws`` upgrade
  included); a request has ``body_timeout`` seconds from its head to the end of
  its body (:func:`body_deadline_middleware`); an idle keep-alive connection is
  closed after ``keepalive_timeout`` (aiohttp's own timer, which also bounds a
  later request head on the same connection).
* At most ``max_pending`` connections may wait for their head or body at once
  (default: a quarter of the process's file-descriptor limit): one more closes the
  oldest, so a flood of connections that never finish cannot use up the
  descriptors the hub needs to accept ``/healthz`` or a WebSocket client.
* aiohttp's parse errors (a malformed head on a kept-alive connection, a bad
  chunk size, ...) are answered with a small JSON 400 that echoes nothing of the
  request, and logged as one WARNING line without a traceback (at most one line
  per ``_WARN_EVERY`` seconds, with the number of lines left out).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Final

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from hub.config import Settings
from hub.protocol.handshake import error_code

__all__ = [
    "EDGE",
    "BodyTimeout",
    "Edge",
    "EdgeRequestHandler",
    "auto_max_pending",
    "body_deadline_middleware",
    "warn_busy",
    "warn_malformed",
]

log = logging.getLogger("hub.http")

_WARN_EVERY: Final = 10.0  # seconds between two WARNING lines about malformed requests
_MAX_AUTO_PENDING: Final = 65536


class _Throttled:
    """One log line per ``every`` seconds at most; the next says how many were left out."""

    __slots__ = ("every", "last", "skipped")

    def __init__(self, every: float) -> None:
        self.every = every
        self.last = -every
        self.skipped = 0

    def warning(self, fmt: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            self.skipped += 1
            return
        self.last = now
        if self.skipped:
            fmt += " (%d similar lines left out)"
            args = (*args, self.skipped)
            self.skipped = 0
        log.warning(fmt, *args)


_malformed = _Throttled(_WARN_EVERY)
_evicted = _Throttled(_WARN_EVERY)


def warn_malformed(peer: object, what: str) -> None:
    """Log a refused request: who sent it and what kind of error (never its bytes)."""
    _malformed.warning("malformed HTTP request from %s refused: %s", peer, what)


def warn_busy(limit: int, what: str) -> None:
    """Log that connections were closed to make room (throttled like the above)."""
    _evicted.warning("more than %d %s: closing the oldest", limit, what)


def auto_max_pending() -> int:
    """A quarter of the file-descriptor limit (at least 8)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return _MAX_AUTO_PENDING
    return min(_MAX_AUTO_PENDING, max(8, soft // 4))


class Edge:
    """The connections whose request is not complete yet, oldest first."""

    __slots__ = ("body_timeout", "evictions", "head_timeout", "max_pending", "pending")

    def __init__(self, head_timeout: float, body_timeout: float, max_pending: int) -> None:
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        self.max_pending = max_pending
        self.pending: dict[Hashable, Callable[[], bool]] = {}
        self.evictions = 0

    @classmethod
    def from_settings(cls, s: Settings) -> Edge:
        return cls(s.head_timeout, s.body_timeout, s.max_pending or auto_max_pending())

    def admit(self, key: Hashable, evict: Callable[[], bool]) -> None:
        """``key`` waits for the rest of its request; ``evict`` ends it if room is needed
        (and says whether there was anything left to end)."""
        pending = self.pending
        while len(pending) >= self.max_pending:
            if pending.pop(next(iter(pending)))():  # False: it had just completed
                self.evictions += 1
                warn_busy(self.max_pending, "connections with an incomplete request")
        pending[key] = evict

    def done(self, key: Hashable) -> None:
        self.pending.pop(key, None)


EDGE: Final = web.AppKey("edge", Edge)


class BodyTimeout(asyncio.TimeoutError):
    """The request body did not arrive in time (408) or room was needed (503)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json_error(status: int, message: str) -> web.Response:
    body = {"error": {"code": error_code(status), "message": message}}
    resp = web.Response(body=orjson.dumps(body), status=status, content_type="application/json")
    resp.force_close()
    return resp


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def body_deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request body has ``body_timeout`` seconds to arrive, and counts as pending."""
    content = request.content
    if not request.body_exists or content.is_eof():
        return await handler(request)
    edge = request.app[EDGE]

    def fail(status: int, message: str) -> bool:
        if content.is_eof():
            return False
        content.set_exception(BodyTimeout(status, message))
        return True

    key = object()  # requests are not hashable
    loop = asyncio.get_running_loop()
    timer = loop.call_later(edge.body_timeout, fail, 408, "the request body did not arrive in time")
    edge.admit(key, lambda: fail(503, "server busy: too many incomplete requests"))
    try:
        return await handler(request)
    except BodyTimeout as exc:
        warn_malformed(request.remote, exc.message)
        return _json_error(exc.status, exc.message)
    finally:
        timer.cancel()
        edge.done(key)


_PARSE_MESSAGES: Final = {
    400: "malformed HTTP request",
    413: "request too large",
    431: "request head too large",
}


class EdgeRequestHandler(RequestHandler):
    """aiohttp's connection handler with JSON errors and quiet parse-error logging."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, ConnectionError):  # the client left in the middle of its request
            self.log_debug("client disconnected during its request")
            text = "connection lost"
        elif status >= 500:
            if exc is not None:  # a bug in a handler: worth its traceback
                self.log_exception("Error handling request", exc_info=exc)
            text = "internal error" if status == 500 else "request timed out"
        else:  # the client's fault: one line, no traceback, nothing of its bytes
            warn_malformed(request.remote, type(exc).__name__ if exc else str(status))
            text = _PARSE_MESSAGES.get(status, "malformed HTTP request")
        if request.writer.output_size > 0:
            raise ConnectionError("the response was already started")
        return _json_error(status, text)


def handler_factory(server: web.Server, **kwargs: Any) -> Callable[[], RequestHandler]:
    """``server()`` with :class:`EdgeRequestHandler` (``kwargs``: the handler's options)."""
    loop = asyncio.get_running_loop()

    def make() -> RequestHandler:
        return EdgeRequestHandler(server, loop=loop, **kwargs)

    return make
