"""HTTP helpers shared by the engine's and the domain's API routes: JSON errors
with the protocol's codes, body parsing, and the API-key check."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from hub.core.interfaces import backend_unavailable
from hub.protocol.errors import Code, HubError
from hub.protocol.handshake import error_code

__all__ = [
    "API_KEY",
    "STATUS_OF",
    "error_middleware",
    "json_response",
    "read_json",
    "require_api_key",
]

log = logging.getLogger("hub.http")

API_KEY: Final = web.AppKey("api_key", str)

STATUS_OF: Final = {
    Code.INTERNAL: 500,
    Code.UNAUTHORIZED: 401,
    Code.BAD_CHANNEL: 400,
    Code.PERMISSION_DENIED: 403,
    Code.UNKNOWN_OP: 404,
    Code.ALREADY_SUBSCRIBED: 409,
    Code.LIMIT_EXCEEDED: 413,
    Code.BAD_REQUEST: 400,
    Code.UNAVAILABLE: 503,
    Code.TOKEN_EXPIRED: 401,
    Code.NOT_SUBSCRIBED: 409,
    Code.TOO_MANY_REQUESTS: 429,
    Code.UNRECOVERABLE: 409,
    Code.NOT_FOUND: 404,
}


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error(status: int, code: int, message: str, **details: Any) -> web.Response:
    return json_response({"error": {**details, "code": code, "message": message}}, status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as ``{"error": {"code", "message"}}`` with a fitting status."""
    try:
        return await handler(request)
    except HubError as exc:
        status = STATUS_OF.get(exc.code, 400)  # type: ignore[call-overload]
        return _error(status, exc.code, exc.message, **exc.details)
    except RequestPayloadError:  # a malformed body (bad chunk, bad compression)
        resp = _error(400, Code.BAD_REQUEST, "malformed request body")
        resp.force_close()
        return resp
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = error_code(exc.status)
        message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
        resp = _error(exc.status, code, message or exc.reason)
        if "Allow" in exc.headers:  # a 405 lists the methods the resource has (RFC 9110)
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
    except Exception as exc:  # a bug: logged with its traceback, answered as JSON all the same
        if backend_unavailable(exc):  # a store or broker out of reach
            log.warning("%s %s: backend unavailable: %r", request.method, request.path, exc)
            return _error(503, Code.UNAVAILABLE, "service temporarily unavailable, retry")
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(500, Code.INTERNAL, "internal error")


def require_api_key(request: web.Request) -> None:
    expected = request.app[API_KEY]
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), expected.encode()
    ):
        raise HubError(
            Code.UNAUTHORIZED, "a valid 'Authorization: Bearer <HUB_API_KEY>' is required"
        )


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong."""
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HubError(Code.BAD_REQUEST, f"the body is not valid JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise HubError(Code.BAD_REQUEST, "the body must be a JSON object")
    return body
