"""Validation of client frames into requests, and the shapes of replies (sans-I/O).

``parse_request`` turns a decoded frame into a :class:`Request` or raises
:class:`FrameError`, which says whether the error can be answered as a reply
(the frame had an integer ``id``) or only as an ``error`` push. Field
validation per op is a table of small functions; the engine registers extra
ops (e.g. ``receipt``) with their own validators through :data:`Validator`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from hub.protocol.errors import Code, HubError
from hub.protocol.names import validate_channel

__all__ = [
    "BUILTIN_VALIDATORS",
    "FrameError",
    "Request",
    "Since",
    "Validator",
    "error_push",
    "error_reply",
    "ok_reply",
    "opt_int",
    "opt_str",
    "parse_request",
    "req_str",
]

MAX_HISTORY_LIMIT: Final = 1000
DEFAULT_HISTORY_LIMIT: Final = 100
MAX_IDEM_LEN: Final = 64


@dataclass(slots=True, frozen=True)
class Since:
    """A stream position: the last offset a client has, within an epoch."""

    offset: int
    epoch: str


@dataclass(slots=True)
class Request:
    """A well-formed request: its id, op and validated arguments."""

    id: int
    op: str
    args: dict[str, Any]


class FrameError(HubError):
    """A frame that is not a well-formed request; ``id`` is set when a reply is possible."""

    __slots__ = ("id",)

    def __init__(self, code: int, message: str, id: int | None = None) -> None:
        super().__init__(code, message)
        self.id = id


Validator = Callable[[Mapping[str, Any]], dict[str, Any]]


def _bad(message: str) -> HubError:
    return HubError(Code.BAD_REQUEST, message)


def _is_int(v: object) -> bool:
    return type(v) is int


def req_str(frame: Mapping[str, Any], key: str, max_len: int = 4096) -> str:
    v = frame.get(key)
    if not isinstance(v, str) or not v:
        raise _bad(f"'{key}' must be a non-empty string")
    if len(v) > max_len:
        raise _bad(f"'{key}' is longer than {max_len} characters")
    return v


def opt_str(frame: Mapping[str, Any], key: str, max_len: int) -> str | None:
    v = frame.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v or len(v) > max_len:
        raise _bad(f"'{key}' must be a string of 1 to {max_len} characters")
    return v


def opt_int(frame: Mapping[str, Any], key: str, minimum: int) -> int | None:
    v = frame.get(key)
    if v is None:
        return None
    if type(v) is not int or v < minimum:
        raise _bad(f"'{key}' must be an integer >= {minimum}")
    return v


def _channel(frame: Mapping[str, Any]) -> str:
    if "channel" not in frame:
        raise _bad("'channel' is required")
    return validate_channel(frame["channel"])


def _since(frame: Mapping[str, Any]) -> Since | None:
    v = frame.get("since")
    if v is None:
        return None
    if not isinstance(v, dict):
        raise _bad("'since' must be an object {offset, epoch}")
    offset, epoch = v.get("offset"), v.get("epoch")
    if type(offset) is not int or offset < 0:
        raise _bad("'since.offset' must be an integer >= 0")
    if not isinstance(epoch, str) or len(epoch) > 64:
        raise _bad("'since.epoch' must be a string")
    return Since(offset, epoch)


def _v_connect(f: Mapping[str, Any]) -> dict[str, Any]:
    return {"token": req_str(f, "token", 16384)}


def _v_channel_only(f: Mapping[str, Any]) -> dict[str, Any]:
    return {"channel": _channel(f)}


def _v_subscribe(f: Mapping[str, Any]) -> dict[str, Any]:
    return {"channel": _channel(f), "since": _since(f)}


def _v_publish(f: Mapping[str, Any]) -> dict[str, Any]:
    channel = _channel(f)
    if "data" not in f:
        raise _bad("'data' is required")
    return {"channel": channel, "data": f["data"], "idem": opt_str(f, "idem", MAX_IDEM_LEN)}


def _v_history(f: Mapping[str, Any]) -> dict[str, Any]:
    channel = _channel(f)
    since = _since(f)
    before = opt_int(f, "before", 1)
    if since is not None and before is not None:
        raise _bad("'since' and 'before' cannot be combined")
    limit = opt_int(f, "limit", 1)
    limit = DEFAULT_HISTORY_LIMIT if limit is None else min(limit, MAX_HISTORY_LIMIT)
    return {"channel": channel, "since": since, "before": before, "limit": limit}


def _v_none(f: Mapping[str, Any]) -> dict[str, Any]:
    return {}


BUILTIN_VALIDATORS: Final[Mapping[str, Validator]] = {
    "connect": _v_connect,
    "subscribe": _v_subscribe,
    "unsubscribe": _v_channel_only,
    "publish": _v_publish,
    "history": _v_history,
    "presence": _v_channel_only,
    "ping": _v_none,
}


def parse_request(frame: object, validators: Mapping[str, Validator]) -> Request:
    """Validate a decoded frame; raise :class:`FrameError` when it is not a good request."""
    if not isinstance(frame, dict):
        raise FrameError(Code.BAD_REQUEST, "a request must be an object")
    rid = frame.get("id")
    if not _is_int(rid):
        raise FrameError(Code.BAD_REQUEST, "a request needs an integer 'id'")
    assert isinstance(rid, int)
    if rid < 1:
        raise FrameError(Code.BAD_REQUEST, "'id' must be >= 1", rid)
    op = frame.get("op")
    if not isinstance(op, str):
        raise FrameError(Code.BAD_REQUEST, "'op' must be a string", rid)
    validator = validators.get(op)
    if validator is None:
        raise FrameError(Code.UNKNOWN_OP, f"unknown op: {op[:64]!r}", rid)
    try:
        args = validator(frame)
    except HubError as exc:
        raise FrameError(exc.code, exc.message, rid) from None
    return Request(rid, op, args)


def ok_reply(rid: int, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"id": rid, "ok": True}
    if fields:
        reply.update(fields)
    return reply


def error_reply(rid: int, code: int, message: str) -> dict[str, Any]:
    return {"id": rid, "ok": False, "error": {"code": code, "message": message}}


def error_push(code: int, message: str) -> dict[str, Any]:
    return {"push": "error", "code": code, "message": message}
