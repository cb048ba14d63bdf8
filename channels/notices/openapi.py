"""The notices' and alerts' part of the OpenAPI document."""

from __future__ import annotations

from typing import Any, Final

from channels.notices.states import ReceiptState
from hub.server.openapi import error_responses, json_body, ref

__all__ = ["PATHS", "SCHEMAS"]

_STATE: Final = {"enum": list(ReceiptState.names())}
_ID: Final = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_MEMBER_ID: Final = {"type": "string", "pattern": r"^[A-Za-z0-9_.\-:@]{1,128}$"}
_IDS: Final = {
    "description": "ids, or one id as a string",
    "oneOf": [{"type": "array", "items": _MEMBER_ID}, _MEMBER_ID],
}
_NONEMPTY_IDS: Final = {
    "oneOf": [{"type": "array", "items": _MEMBER_ID, "minItems": 1}, _MEMBER_ID]
}
# A text the server strips: it must hold a non-blank character.
_NONBLANK: Final = r"\S"


def _ok(
    schema: dict[str, Any], description: str = "OK", media: str = "application/json"
) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


def _q(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    # Every query parameter of these routes reads an empty value as not given.
    return {
        "name": name,
        "in": "query",
        "schema": schema,
        "description": description,
        "allowEmptyValue": True,
    }


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
_PAGING: Final = [
    _q("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
    _q("offset", {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0}),
]
_RECEIPT_PAGING: Final = [
    _q("limit", {"type": "integer", "minimum": 1, "maximum": 100000}, "default 100 (csv: all)"),
    _q("offset", {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0}),
]

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
                _q("member", {"type": "string"}, "a member id: their inbox"),
                _q("sender", {"type": "string"}, "a member id: what they sent"),
                *_PAGING,
            ],
            "responses": {"200": _ok(_OBJ), **error_responses(400, 401, 403)},
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
                _q(
                    "state",
                    {"enum": [*ReceiptState.names(), "unsigned"]},
                    "unsigned: below acked; empty: every state",
                ),
                _q(
                    "unit",
                    {"type": "string"},
                    "a unit and its sub-units; flowing members whose home unit is there "
                    "are included (via_home true)",
                ),
                _q("format", {"enum": ["json", "csv"]}, "default json"),
                *_RECEIPT_PAGING,
            ],
            "responses": {
                "200": {
                    "description": "the receipts (JSON), or a CSV file with format=csv",
                    "content": {
                        "application/json": {"schema": _OBJ},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **error_responses(400, 401, 403, 404),
            },
        }
    },
    "/api/notices/{id}/sheet": {
        "get": {
            "summary": "The printable 回执单 (HTML with print CSS)",
            "parameters": [_ID],
            "responses": {
                "200": _ok({"type": "string"}, media="text/html"),
                **error_responses(401, 403, 404),
            },
        }
    },
    "/api/notices/{id}/audit": {
        "get": {
            "summary": "Verify the notice's hash-chained receipts ledger",
            "parameters": [_ID],
            "responses": {"200": _ok(_OBJ), **error_responses(401, 403, 404)},
        }
    },
    "/api/notices/{id}/remind": {
        "post": {
            "summary": "Remind the recipients who have not signed (409 once it is recalled)",
            "parameters": [_ID],
            "responses": {"200": _ok(_OBJ), **error_responses(401, 403, 404, 409)},
        }
    },
    "/api/notices/{id}/recall": {
        "post": {
            "summary": "Recall on every channel; the answer lists who had already read it",
            "parameters": [_ID],
            "responses": {"200": _ok(_OBJ), **error_responses(401, 403, 404)},
        }
    },
    "/api/inbox": {
        "get": {
            "summary": "The calling member's notices (Bearer: a connection token)",
            "parameters": _PAGING,
            "responses": {"200": _ok(_OBJ), **error_responses(400, 401)},
        }
    },
    "/api/alerts": {
        "post": {
            "summary": "Send an alert (urgent by default) with an escalation ladder",
            "requestBody": json_body(ref("AlertRequest")),
            "responses": _CREATED,
        }
    },
    "/api/alerts/{id}/escalation": {
        "get": {
            "summary": "The alert's rungs (due, done) and every attempt",
            "parameters": [_ID],
            "responses": {"200": _ok(_OBJ), **error_responses(401, 403, 404)},
        }
    },
    "/api/alerts/prefs/{member}": {
        "get": {
            "summary": "A member's quiet hours and daily SMS cap",
            "parameters": [{**_ID, "name": "member"}],
            "responses": {"200": _ok(_OBJ), **error_responses(401, 403)},
        },
        "put": {
            "summary": "Set quiet hours ({start, end} HH:MM China time, or null) and sms_daily_cap",
            "parameters": [{**_ID, "name": "member"}],
            "requestBody": json_body(ref("AlertPrefs")),
            "responses": {"200": _ok(_OBJ), **error_responses(400, 401, 403)},
        },
    },
}

# A subset of what datetime.fromisoformat reads (days up to 28: always a real date).
_DEADLINE: Final = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?$"
)
_HHMM: Final = {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_DURATION: Final = {
    "description": "30s, 5m, 2h, 1d, 250ms, or seconds as a number; at most 366 days",
    "oneOf": [
        {
            "type": "string",
            "pattern": r"^\s*([0-9]{1,3}(\.[0-9]{1,3})?\s*(ms|s|m|h)?"
            r"|[0-9]{1,2}(\.[0-9]{1,3})?\s*d)\s*$",
        },
        {"type": "number", "minimum": 0, "maximum": 366 * 86400},
    ],
}
_AUDIENCE: Final = {
    "type": "object",
    "description": "at least one of units, groups, roles, members (non-empty) or flowing: true",
    "properties": {
        "units": _IDS,
        "subunits": {"description": "default true; only false turns it off"},
        "groups": _IDS,
        "roles": _IDS,
        "members": _IDS,
        "flowing": {"description": "true: the flowing members too; anything else: no"},
    },
    "anyOf": [
        {"required": ["units"], "properties": {"units": _NONEMPTY_IDS}},
        {"required": ["groups"], "properties": {"groups": _NONEMPTY_IDS}},
        {"required": ["roles"], "properties": {"roles": _NONEMPTY_IDS}},
        {"required": ["members"], "properties": {"members": _NONEMPTY_IDS}},
        {"required": ["flowing"], "properties": {"flowing": {"const": True}}},
    ],
}


def _request(*, body_required: bool) -> dict[str, Any]:
    """A notice (body required) or an alert (body optional), as parse_draft checks it."""
    text = {"type": "string", "pattern": _NONBLANK}
    return {
        "type": "object",
        "required": ["title", "audience", *(["body"] if body_required else [])],
        "properties": {
            "title": {**text, "maxLength": 200},
            "body": {**text, "maxLength": 20000}
            if body_required
            else {"type": ["string", "null"], "maxLength": 20000},
            "attachments": {
                "type": ["array", "null"],
                "maxItems": 50,
                "items": {
                    "type": "object",
                    "required": ["name", "url", "size", "sha256"],
                    "properties": {
                        "name": {**text, "maxLength": 200},
                        "url": {"type": "string", "pattern": "^(https?://|/)"},
                        "size": {"type": "integer", "minimum": 0},
                        "sha256": {"type": "string", "pattern": "^[0-9A-Fa-f]{64}$"},
                        "classification": {
                            "description": "公开 or 内部 (also public, internal); "
                            "秘密/机密/绝密 are refused (403)",
                            "enum": ["公开", "内部", "public", "internal", None],
                        },
                    },
                },
            },
            "audience": _AUDIENCE,
            "require_ack": {"type": "boolean", "default": True},
            "deadline": {
                "type": ["string", "null"],
                "description": "ISO 8601, e.g. 2030-07-01T17:00:00+08:00",
                "pattern": _DEADLINE,
            },
            "classification": {
                "description": "公开 or 内部 (also public, internal); 秘密/机密/绝密 are refused "
                "(403) and logged",
                "enum": ["公开", "内部", "public", "internal", None],
            },
            "urgency": {"enum": ["normal", "urgent"]},
            "escalation": {
                "type": ["array", "null"],
                "maxItems": 10,
                "description": "rungs; they run in time order",
                "items": {
                    "type": "object",
                    "required": ["after", "via"],
                    "properties": {"after": _DURATION, "via": {"enum": ["wechat", "sms"]}},
                },
            },
            "escalate_until": {"enum": ["delivered", "read", "acked"]},
            "idem": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
            "sender": {
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "description": "with the API key: the sending member (default: system)",
            },
        },
    }


SCHEMAS: Final[dict[str, Any]] = {
    "NoticeRequest": _request(body_required=True),
    "AlertRequest": _request(body_required=False),
    "AlertPrefs": {
        "type": "object",
        "properties": {
            "quiet_hours": {
                "description": "China time; null: none; absent: unchanged",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["start", "end"],
                        "properties": {"start": _HHMM, "end": _HHMM},
                    },
                ],
            },
            "sms_daily_cap": {"type": "integer", "minimum": 0, "maximum": 100},
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
