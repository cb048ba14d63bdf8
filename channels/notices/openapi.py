"""The notices' and alerts' part of the OpenAPI document."""

from __future__ import annotations

from typing import Any, Final

from hub.server.openapi import error_responses, json_body, ref

__all__ = ["PATHS", "SCHEMAS"]

_STATE: Final = {"enum": ["sent", "delivered", "read", "acked"]}
_ID: Final = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _ok(
    schema: dict[str, Any], description: str = "OK", media: str = "application/json"
) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


def _q(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


_OBJ: Final = {"type": "object"}
_CREATED: Final = {
    "201": _ok(
        {"type": "object", "properties": {"notice": ref("Notice"), "created": {"type": "boolean"}}},
        "created",
    ),
    "200": _ok(
        {"type": "object", "properties": {"notice": ref("Notice"), "created": {"type": "boolean"}}},
        "the idempotency key was seen: the first notice",
    ),
    **error_responses(400, 401, 403),
}
_PAGING: Final = [_q("limit", {"type": "integer"}), _q("offset", {"type": "integer"})]

PATHS: Final[dict[str, Any]] = {
    "/api/notices": {
        "post": {
            "summary": "Send a notice to an audience (stored with one receipt per recipient "
            "before any push); "
            "密级 秘密/机密/绝密 is refused (403) and logged",
            "requestBody": json_body(ref("NoticeRequest")),
            "responses": _CREATED,
        },
        "get": {
            "summary": "Notices: a member's inbox (?member=) or a sender's list (?sender=) "
            "with counts",
            "parameters": [
                _q("member", {"type": "string"}),
                _q("sender", {"type": "string"}),
                *_PAGING,
            ],
            "responses": {"200": _ok(_OBJ), **error_responses(401, 403)},
        },
    },
    "/api/notices/refusals": {
        "get": {
            "summary": "Refused classified documents (for administrators)",
            "responses": {"200": _ok(_OBJ), **error_responses(401, 403)},
        }
    },
    "/api/notices/{id}": {
        "get": {
            "summary": "A notice, its counts by state and the roll-up along the org tree",
            "parameters": [_ID],
            "responses": {"200": _ok(_OBJ), **error_responses(401, 403, 404)},
        }
    },
    "/api/notices/{id}/receipts": {
        "get": {
            "summary": "Receipts filtered by state (or 'unsigned') and unit subtree, paged; "
            "format=csv for a CSV file",
            "parameters": [
                _ID,
                _q("state", {"type": "string"}),
                _q(
                    "unit",
                    {"type": "string"},
                    "a unit and its sub-units; flowing members whose home unit is there "
                    "are included (via_home true)",
                ),
                _q("format", {"enum": ["json", "csv"]}),
                *_PAGING,
            ],
            "responses": {"200": _ok(_OBJ), **error_responses(400, 401, 403, 404)},
        }
    },
    "/api/notices/{id}/sheet": {
        "get": {
            "summary": "The printable 回执单 (HTML with print CSS)",
            "parameters": [_ID],
            "responses": {
                "200": _ok({"type": "string"}, media="text/html"),
                **error_responses(401, 404),
            },
        }
    },
    "/api/notices/{id}/audit": {
        "get": {
            "summary": "Verify the notice's hash-chained receipts ledger",
            "parameters": [_ID],
            "responses": {"200": _ok(_OBJ), **error_responses(401, 404)},
        }
    },
    "/api/notices/{id}/remind": {
        "post": {
            "summary": "Remind the recipients who have not signed",
            "parameters": [_ID],
            "responses": {"200": _ok(_OBJ), **error_responses(400, 401, 404)},
        }
    },
    "/api/notices/{id}/recall": {
        "post": {
            "summary": "Recall on every channel; the answer lists who had already read it",
            "parameters": [_ID],
            "responses": {"200": _ok(_OBJ), **error_responses(401, 404)},
        }
    },
    "/api/inbox": {
        "get": {
            "summary": "The calling member's notices (Bearer: a connection token)",
            "parameters": _PAGING,
            "responses": {"200": _ok(_OBJ), **error_responses(401)},
        }
    },
    "/api/alerts": {
        "post": {
            "summary": "Send an alert (urgent by default) with an escalation ladder",
            "requestBody": json_body(ref("NoticeRequest")),
            "responses": _CREATED,
        }
    },
    "/api/alerts/{id}/escalation": {
        "get": {
            "summary": "The alert's rungs (due, done) and every attempt",
            "parameters": [_ID],
            "responses": {"200": _ok(_OBJ), **error_responses(401, 404)},
        }
    },
    "/api/alerts/prefs/{member}": {
        "get": {
            "summary": "A member's quiet hours and daily SMS cap",
            "parameters": [{**_ID, "name": "member"}],
            "responses": {"200": _ok(_OBJ)},
        },
        "put": {
            "summary": "Set quiet hours ({start, end} HH:MM China time, or null) and sms_daily_cap",
            "parameters": [{**_ID, "name": "member"}],
            "requestBody": json_body(_OBJ),
            "responses": {"200": _ok(_OBJ), **error_responses(400, 401)},
        },
    },
}

SCHEMAS: Final[dict[str, Any]] = {
    "NoticeRequest": {
        "type": "object",
        "required": ["title", "audience"],
        "properties": {
            "title": {"type": "string"},
            "body": {"type": "string"},
            "attachments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "url": {"type": "string"},
                        "size": {"type": "integer"},
                        "sha256": {"type": "string"},
                        "classification": {"type": "string"},
                    },
                },
            },
            "audience": {
                "type": "object",
                "properties": {
                    "units": {"type": "array", "items": {"type": "string"}},
                    "subunits": {"type": "boolean"},
                    "groups": {"type": "array", "items": {"type": "string"}},
                    "roles": {"type": "array", "items": {"type": "string"}},
                    "members": {"type": "array", "items": {"type": "string"}},
                    "flowing": {"type": "boolean"},
                },
            },
            "require_ack": {"type": "boolean"},
            "deadline": {"type": ["string", "null"], "format": "date-time"},
            "classification": {"enum": ["公开", "内部"]},
            "urgency": {"enum": ["normal", "urgent"]},
            "escalation": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"after": {"type": "string"}, "via": {"enum": ["wechat", "sms"]}},
                },
            },
            "escalate_until": {"enum": ["delivered", "read", "acked"]},
            "idem": {"type": "string", "maxLength": 64},
            "sender": {"type": "string", "description": "with the API key: the sending member"},
        },
    },
    "Notice": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "kind": {"enum": ["notice", "alert"]},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "from": {"type": "string"},
            "require_ack": {"type": "boolean"},
            "deadline": {"type": ["string", "null"]},
            "attachments": {"type": "array"},
            "recipients": {"type": "integer"},
            "created_at": {"type": "integer"},
            "recalled_at": {"type": ["integer", "null"]},
            "state": _STATE,
        },
    },
}
