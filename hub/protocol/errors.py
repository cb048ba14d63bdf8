"""Error codes, close codes and the one exception the protocol core raises.

Exception hierarchy::

    HubError                 an error answered to the client with a code of PROTOCOL.md §5
      (raised by request validation and by the engine; ``code`` and ``message``
      go on the wire unchanged)

Close codes (PROTOCOL.md §5) are plain integers in :class:`Close`; whether a
client should reconnect after one is :func:`reconnect_allowed`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

__all__ = ["Close", "Code", "HubError", "reconnect_allowed"]


class Code(IntEnum):
    """Error codes carried in replies and ``error`` pushes."""

    INTERNAL = 100
    UNAUTHORIZED = 101
    BAD_CHANNEL = 102
    PERMISSION_DENIED = 103
    UNKNOWN_OP = 104
    ALREADY_SUBSCRIBED = 105
    LIMIT_EXCEEDED = 106
    BAD_REQUEST = 107
    UNAVAILABLE = 108
    TOKEN_EXPIRED = 109
    NOT_SUBSCRIBED = 110
    TOO_MANY_REQUESTS = 111
    UNRECOVERABLE = 112
    NOT_FOUND = 113


class Close(IntEnum):
    """WebSocket close codes used by the hub (RFC 6455 ones and the 4xxx range)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    INVALID_DATA = 1007
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    UNAUTHORIZED = 4001
    FORBIDDEN = 4003
    POLICY_VIOLATION = 4008
    MESSAGE_TOO_BIG = 4009
    SLOW_CONSUMER = 4010
    SHUTDOWN = 4012
    TOKEN_EXPIRED = 4013
    RATE_LIMITED = 4029


_NO_RECONNECT = frozenset(
    {Close.UNAUTHORIZED, Close.FORBIDDEN, Close.POLICY_VIOLATION, Close.MESSAGE_TOO_BIG}
)


def reconnect_allowed(code: int) -> bool:
    """Whether a client may reconnect after a close with ``code`` (4013: with a new token)."""
    return code not in _NO_RECONNECT


class HubError(Exception):
    """An error with a protocol code; its message is safe to show to the client.
    ``details`` (e.g. ``field``, ``reason``) go into an HTTP error body beside them."""

    __slots__ = ("code", "details", "message")

    def __init__(self, code: int, message: str, **details: Any) -> None:
        super().__init__(code, message)
        self.code = int(code)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
