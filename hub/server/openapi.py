"""The OpenAPI 3.1 document of the server API, built from parts: the engine's
paths here, the domain's added with :meth:`OpenApi.add`."""

from __future__ import annotations

import copy
from typing import Any

from hub.auth import MAX_TOKEN_TTL

__all__ = ["OpenApi", "error_responses", "json_body", "ref"]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_responses(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "malformed body, parameter or channel name",
        401: "missing or invalid API key",
        403: "permission denied",
        404: "not found",
        409: "conflict or unrecoverable position",
        413: "too large",
        415: "unsupported Content-Type of the body",
        429: "too many requests",
        503: "temporarily unavailable (broker or store down)",
    }
    return {
        str(s): {
            "description": texts.get(s, "error"),
            "content": {"application/json": {"schema": ref("Error")}},
        }
        for s in statuses
    }


_CHANNEL = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,31}:[A-Za-z0-9_.\-:@]{1,128}$"}
_CHANNEL_PARAM = {"name": "channel", "in": "path", "required": True, "schema": _CHANNEL}
# A query parameter whose empty value means "not given".
_EMPTY_OK: dict[str, Any] = {"in": "query", "allowEmptyValue": True}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
            }
        },
    },
    "Message": {
        "type": "object",
        "required": ["push", "channel", "offset", "epoch", "data", "from", "ts"],
        "properties": {
            "push": {"const": "message"},
            "channel": {"type": "string"},
            "offset": {"type": "integer", "minimum": 1},
            "epoch": {"type": "string"},
            "data": {},
            "from": {"type": ["string", "null"]},
            "ts": {"type": "integer", "description": "ms since the Unix epoch, server time"},
        },
    },
    "PublishRequest": {
        "type": "object",
        "required": ["channel", "data"],
        "properties": {
            "channel": _CHANNEL,
            "data": {"description": "any JSON value, at most max_data_size bytes encoded"},
            "idem": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
        },
    },
    "Position": {
        "type": "object",
        "required": ["offset", "epoch"],
        "properties": {"offset": {"type": "integer"}, "epoch": {"type": "string"}},
    },
    "History": {
        "type": "object",
        "required": ["messages", "offset", "epoch"],
        "properties": {
            "messages": {"type": "array", "items": ref("Message")},
            "offset": {"type": "integer"},
            "epoch": {"type": "string"},
        },
    },
    "Presence": {
        "type": "object",
        "required": ["members"],
        "properties": {
            "members": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"clients": {"type": "integer"}},
                },
            }
        },
    },
    "TokenRequest": {
        "type": "object",
        "required": ["sub"],
        "properties": {
            "sub": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-:@]{1,128}$"},
            "channels": {
                "type": ["array", "null"],
                "description": "extra channels the token grants (subscribe; publish if true)",
                "items": {
                    "oneOf": [
                        _CHANNEL,
                        {
                            "type": "object",
                            "required": ["channel"],
                            "properties": {
                                "channel": _CHANNEL,
                                "publish": {
                                    "type": "boolean",
                                    "default": False,
                                    "description": "publish too when true",
                                },
                            },
                        },
                    ]
                },
            },
            "ttl": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "maximum": MAX_TOKEN_TTL,
                "description": "seconds, at most a year; null or absent: no expiry",
            },
            "name": {"type": ["string", "null"]},
            "role": {
                "enum": ["admin", None],
                "description": "the token's 'role' claim; 'admin' makes an administrator "
                "token (the domain's notices and directory APIs take it); null or absent: "
                "no role claim",
            },
        },
    },
    "Token": {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}},
}

_PATHS: dict[str, Any] = {
    "/api/publish": {
        "post": {
            "summary": "Publish a message to a channel as the server (from: null)",
            "requestBody": json_body(ref("PublishRequest")),
            "responses": {"200": _ok(ref("Position")), **error_responses(400, 401, 413, 503)},
        }
    },
    "/api/channels/{channel}/history": {
        "get": {
            "summary": "A page of a channel's history, oldest first",
            "description": "`since` needs `epoch` (the position is an offset in an epoch) "
            "and cannot be combined with `before`; either mistake is a 400.",
            "parameters": [
                _CHANNEL_PARAM,
                {**_EMPTY_OK, "name": "since", "schema": {"type": "integer", "minimum": 0}},
                {**_EMPTY_OK, "name": "epoch", "schema": {"type": "string"}},
                {**_EMPTY_OK, "name": "before", "schema": {"type": "integer", "minimum": 1}},
                {
                    **_EMPTY_OK,
                    "name": "limit",
                    "description": "at most 1000 messages are returned, whatever the limit",
                    "schema": {"type": "integer", "minimum": 1, "default": 100},
                },
            ],
            "responses": {"200": _ok(ref("History")), **error_responses(400, 401, 409, 503)},
        }
    },
    "/api/channels/{channel}/presence": {
        "get": {
            "summary": "Members subscribed to a channel and their number of connections",
            "parameters": [_CHANNEL_PARAM],
            "responses": {"200": _ok(ref("Presence")), **error_responses(400, 401, 503)},
        }
    },
    "/api/tokens": {
        "post": {
            "summary": "Mint a connection token (HS256 with HUB_TOKEN_SECRET)",
            "requestBody": json_body(ref("TokenRequest")),
            "responses": {"200": _ok(ref("Token")), **error_responses(400, 401)},
        }
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {"200": _ok({"type": "object"}), **error_responses(401)},
        }
    },
}


class OpenApi:
    def __init__(self, title: str = "Tongzhi hub API", version: str = "1") -> None:
        self._info = {"title": title, "version": version}
        self._paths: dict[str, Any] = copy.deepcopy(_PATHS)
        self._schemas: dict[str, Any] = copy.deepcopy(_SCHEMAS)

    def add(self, paths: dict[str, Any], schemas: dict[str, Any] | None = None) -> None:
        for path, ops in paths.items():
            self._paths.setdefault(path, {}).update(ops)
        self._schemas.update(schemas or {})

    def document(self) -> dict[str, Any]:
        paths = copy.deepcopy(self._paths)
        for ops in paths.values():
            for op in ops.values():
                op.setdefault("security", [{"apiKey": []}])
                if "requestBody" in op:  # any body above the server's client_max_size
                    for status, response in error_responses(413).items():
                        op["responses"].setdefault(status, response)
        return {
            "openapi": "3.1.0",
            "info": self._info,
            "paths": paths,
            "components": {
                "schemas": self._schemas,
                "securitySchemes": {
                    "apiKey": {"type": "http", "scheme": "bearer", "description": "HUB_API_KEY"}
                },
            },
        }
