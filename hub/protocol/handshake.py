"""Sans-I/O HTTP/1.1 upgrade to WebSocket (RFC 6455 §4.2), server side.

Public API::

    parse_request_head(buf: bytes | bytearray, max_size: int = MAX_HEAD_SIZE)
        -> tuple[Request | None, int]
    is_websocket_upgrade(req: Request) -> bool
    accept_key(key: str) -> str
    accept_response(req: Request, subprotocols: Sequence[str], default: str | None)
        -> tuple[bytes, str | None]
    error_response(status: int, message: str, code: int | None = None) -> bytes
    error_code(status: int) -> int

    Request(method, target, path, query, headers, consumed, version)   (NamedTuple)

``parse_request_head`` returns ``(None, 0)`` until the whole head (up to the
blank line) is in ``buf``; then ``(request, consumed)``. ``path`` is the
percent-decoded path of ``target`` without its query; ``query`` maps each
name to its first percent-decoded value; ``headers`` maps lower-cased names
to values, repeated headers joined with ", ". Only CRLF line ends, HTTP/1.1 or
HTTP/1.0 and origin-form targets are accepted; an HTTP/1.1 request without Host
is refused (HTTP/1.0 has no Host requirement). The WebSocket upgrade itself
needs HTTP/1.1 (RFC 6455 §4.1).

Every refusal is a :class:`~hub.protocol.websocket.HandshakeError`
``(status, message)``; answer it with ``error_response(status, message)``: the
HTTP status stays the status, the JSON body's ``code`` is the protocol's error
code of PROTOCOL.md §5 (``error_code(status)``: 107 bad request, 101
unauthorized, 106 limit exceeded, 108 unavailable, ...).
No extension is ever negotiated: permessage-deflate offers are ignored.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Final, NamedTuple
from urllib.parse import parse_qsl, unquote

from hub.protocol.errors import Code
from hub.protocol.websocket import HandshakeError

__all__ = [
    "MAX_HEAD_SIZE",
    "WS_GUID",
    "Request",
    "accept_key",
    "accept_response",
    "error_code",
    "error_response",
    "is_websocket_upgrade",
    "parse_request_head",
]

MAX_HEAD_SIZE: Final = 16 * 1024
WS_GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_TOKEN_CHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
# Field values: visible characters, space, tab and obs-text (latin-1 decoded).
_BAD_VALUE_CHARS: Final = frozenset(map(chr, [*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F]))


class Request(NamedTuple):
    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    consumed: int
    version: str = "HTTP/1.1"


def _is_token(text: str) -> bool:
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def _bad_request(message: str) -> HandshakeError:
    return HandshakeError(400, message)


_VERSIONS: Final = frozenset({"HTTP/1.1", "HTTP/1.0"})

# The protocol's error code (PROTOCOL.md §5) for each HTTP status a refusal uses.
_CODE_OF_STATUS: Final = {
    400: Code.BAD_REQUEST,
    401: Code.UNAUTHORIZED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    408: Code.BAD_REQUEST,  # the request did not arrive in time
    413: Code.LIMIT_EXCEEDED,
    426: Code.BAD_REQUEST,  # not a (valid) WebSocket upgrade
    429: Code.TOO_MANY_REQUESTS,
    431: Code.LIMIT_EXCEEDED,  # the request head is too large
    503: Code.UNAVAILABLE,
    504: Code.UNAVAILABLE,
    505: Code.BAD_REQUEST,  # an HTTP version the hub does not speak
}


def error_code(status: int) -> int:
    """The protocol's error code (PROTOCOL.md §5) that goes with an HTTP error status:
    100 (internal) for other 5xx, 107 (bad request) for other 4xx."""
    return int(_CODE_OF_STATUS.get(status, Code.INTERNAL if status >= 500 else Code.BAD_REQUEST))


def _parse_request_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) != 3:
        raise _bad_request("malformed request line")
    method, target, version = parts
    if not _is_token(method):
        raise _bad_request("malformed method")
    if version not in _VERSIONS:
        raise HandshakeError(505, "only HTTP/1.1 and HTTP/1.0 are supported")
    if not target.startswith("/") or not target.isprintable() or not target.isascii():
        raise _bad_request("malformed request target")
    return method, target, version


def _parse_headers(lines: list[str], need_host: bool) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not _is_token(name):
            raise _bad_request("malformed header line")
        value = value.strip(" \t")
        if not _BAD_VALUE_CHARS.isdisjoint(value):
            raise _bad_request("control character in header value")
        key = name.lower()
        if key in headers:
            if key == "host":
                raise _bad_request("repeated Host header")
            value = f"{headers[key]}, {value}"
        headers[key] = value
    if need_host and "host" not in headers:
        raise _bad_request("missing Host header")
    return headers


def parse_request_head(
    buf: bytes | bytearray, max_size: int = MAX_HEAD_SIZE
) -> tuple[Request | None, int]:
    """Parse the request line and headers at the start of ``buf``."""
    end = buf.find(b"\r\n\r\n", 0, max_size + 4)
    if end < 0:
        if len(buf) >= max_size + 4:
            raise HandshakeError(431, "request head too large")
        return None, 0
    consumed = end + 4
    if consumed > max_size:
        raise HandshakeError(431, "request head too large")
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    method, target, version = _parse_request_line(lines[0])
    headers = _parse_headers(lines[1:], need_host=version == "HTTP/1.1")
    raw_path, _, raw_query = target.partition("?")
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query.setdefault(name, value)
    request = Request(method, target, unquote(raw_path), query, headers, consumed, version)
    return request, consumed


def _tokens(value: str) -> list[str]:
    """A comma-separated header value as a list of non-empty, stripped items."""
    return [item for item in (part.strip(" \t") for part in value.split(",")) if item]


def _has_token(req: Request, name: str, token: str) -> bool:
    return token in (item.lower() for item in _tokens(req.headers.get(name, "")))


def is_websocket_upgrade(req: Request) -> bool:
    """Whether ``req`` asks for a WebSocket upgrade (not whether it is a valid one)."""
    return (
        req.method == "GET"
        and _has_token(req, "upgrade", "websocket")
        and _has_token(req, "connection", "upgrade")
    )


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + WS_GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def _check_key(req: Request) -> str:
    key = req.headers.get("sec-websocket-key", "")
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except ValueError:
        raise _bad_request("invalid Sec-WebSocket-Key") from None
    if len(raw) != 16:
        raise _bad_request("invalid Sec-WebSocket-Key")
    return key


def _check_upgrade(req: Request) -> str:
    """Validate the upgrade request; return its Sec-WebSocket-Key."""
    if req.method != "GET":
        raise _bad_request("WebSocket upgrade needs GET")
    if req.version != "HTTP/1.1":
        raise HandshakeError(426, "WebSocket upgrade needs HTTP/1.1")
    if not _has_token(req, "upgrade", "websocket"):
        raise HandshakeError(426, "missing Upgrade: websocket")
    if not _has_token(req, "connection", "upgrade"):
        raise HandshakeError(426, "missing Connection: upgrade")
    if req.headers.get("sec-websocket-version") != "13":
        raise HandshakeError(426, "unsupported Sec-WebSocket-Version, use 13")
    return _check_key(req)


def accept_response(
    req: Request, subprotocols: Sequence[str], default: str | None
) -> tuple[bytes, str | None]:
    """Return the ``101`` response for ``req`` and the subprotocol chosen.

    The chosen subprotocol is the client's most preferred one that the server
    supports (echoed in Sec-WebSocket-Protocol), else ``default`` (not echoed).
    """
    key = _check_upgrade(req)
    offered = _tokens(req.headers.get("sec-websocket-protocol", ""))
    chosen = next((p for p in offered if p in subprotocols), None)
    echo = "" if chosen is None else f"Sec-WebSocket-Protocol: {chosen}\r\n"
    response = (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n"
        f"{echo}\r\n"
    )
    return response.encode(), default if chosen is None else chosen


def error_response(status: int, message: str, code: int | None = None) -> bytes:
    """A complete HTTP/1.1 error response with a JSON body; the connection closes.

    The body is ``{"error": {"code", "message"}}`` with the protocol's code
    (``code``, or ``error_code(status)``), never the HTTP status."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if code is None:
        code = error_code(status)
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    extra = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" if status == 426 else ""
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        "Content-Type: application/json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body
