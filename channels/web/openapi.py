"""The page's routes in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from hub.server.openapi import error_responses, json_body

__all__ = ["demo_paths", "web_paths"]

_TOKEN = "Authorization: Bearer <connection token> (a member's JWT, not the API key)."


def _ok(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


_STR = {"type": "string"}
_NAMED = _obj(id=_STR, name=_STR)
_BOOL = {"type": "boolean"}
_NULL_STR = {"type": ["string", "null"]}


def web_paths() -> dict[str, Any]:
    group = _obj(
        id=_STR,
        channel=_STR,
        name=_STR,
        owners={"type": "array", "items": _STR},
        members={"type": "array", "items": _NAMED},
    )
    return {
        "/api/web/config": {
            "get": {
                "summary": "Page settings: demo sign-in on or off, the organization's login "
                "URL, the receipt states with their words",
                "security": [],
                "responses": {
                    "200": _ok(
                        _obj(
                            demo=_BOOL,
                            login_url=_NULL_STR,
                            receipt_states={
                                "type": "array",
                                "description": "In rank order (sent, delivered, read, acked)",
                                "items": _obj(
                                    state=_STR,
                                    rank={"type": "integer"},
                                    label=_STR,
                                    short=_STR,
                                    legend=_STR,
                                    inbox=_STR,
                                ),
                            },
                        )
                    )
                },
            }
        },
        "/api/web/me": {
            "get": {
                "summary": "The token's member with unit, roles and groups (names included)",
                "description": _TOKEN,
                "responses": {
                    "200": _ok(
                        _obj(
                            member=_STR,
                            name=_STR,
                            unit={"type": ["object", "null"]},
                            roles={"type": "array", "items": _STR},
                            admin={"type": "boolean"},
                            sender={"type": "boolean"},
                            groups={"type": "array", "items": group},
                        )
                    ),
                    **error_responses(401),
                },
            }
        },
        "/api/web/names": {
            "get": {
                "summary": "Display names of members (ids comma-separated, at most 200)",
                "description": _TOKEN,
                "parameters": [
                    {"name": "ids", "in": "query", "schema": _STR, "allowEmptyValue": True}
                ],
                "responses": {
                    "200": _ok(_obj(names={"type": "object"})),
                    **error_responses(401),
                },
            }
        },
        "/api/web/org": {
            "get": {
                "summary": "Units, groups and role labels for choosing a notice's audience",
                "description": _TOKEN + " Admin tokens only (as the notices API).",
                "responses": {
                    "200": _ok(
                        _obj(
                            units={"type": "array", "items": {"type": "object"}},
                            groups={"type": "array", "items": {"type": "object"}},
                            roles={"type": "object"},
                            kinds={"type": "object"},
                        )
                    ),
                    **error_responses(401, 403),
                },
            }
        },
    }


def demo_paths() -> dict[str, Any]:
    return {
        "/api/demo/members": {
            "get": {
                "summary": "Demo mode only: the members one may sign in as",
                "security": [],
                "responses": {"200": _ok(_obj(members={"type": "array", "items": _NAMED}))},
            }
        },
        "/api/demo/token": {
            "post": {
                "summary": "Demo mode only: a connection token for a demo member (12 h)",
                "security": [],
                "requestBody": json_body(_obj(member=_STR)),
                "responses": {
                    "200": _ok(_obj(token=_STR, member=_STR, name=_STR)),
                    **error_responses(400, 404),
                },
            }
        },
    }
