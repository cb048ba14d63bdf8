"""The directory API's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any, Final

from channels.directory.model import (
    _FALSE,
    _KIND_ALIASES,
    _ROLE_ALIASES,
    _TRUE,
    KIND_LABELS,
    KIND_MAX_LEN,
    KINDS,
)
from hub.server.openapi import error_responses, json_body, ref

__all__ = ["PATHS", "SCHEMAS"]

_ID: Final = {"type": "string", "pattern": r"^[A-Za-z0-9_.\-:@]{1,128}$"}
_ROLES: Final = {"type": "array", "items": {"enum": ["admin", "staff", "cadre", "member"]}}
_KIND: Final = {
    "type": "string",
    "minLength": 1,
    "maxLength": KIND_MAX_LEN,
    "description": "a known kind as its code ("
    + ", ".join(f"{k} {v}" for k, v in KIND_LABELS.items())
    + "; the Chinese label or an alias such as 县, 镇, 村, 党支部 is accepted on input), "
    "or any other short label, stored as written",
    "examples": list(KINDS),
}
_NULL_STR: Final = {"type": ["string", "null"]}
# What the server reads (request bodies): texts are trimmed (str.strip) before their
# length is checked, and blank means "none". These are str.strip's blanks in any
# regex dialect (the \s of ECMA and Rust lacks \x1c-\x1f, that of ECMA \x85 too).
_WS: Final = r"[\s\x1c-\x1f\x85]"
_NON_WS: Final = r"[^\s\x1c-\x1f\x85]"


def _trimmed(max_len: int, *, blank: bool, null: bool, description: str = "") -> dict[str, Any]:
    """A text of at most ``max_len`` characters once trimmed (blanks around it do not
    count); ``blank``: an empty or blank one is allowed (it means none)."""
    inner = rf"[\s\S]{{0,{max_len}}}" if blank else rf"{_NON_WS}[\s\S]{{0,{max_len - 1}}}"
    schema: dict[str, Any] = {
        "type": ["string", "null"] if null else "string",
        "pattern": rf"^{_WS}*{inner}{_WS}*$",
    }
    if description:
        schema["description"] = description
    return schema


_NAME: Final = _trimmed(100, blank=False, null=False)
_LOCATION: Final = _trimmed(200, blank=True, null=True)
_ACCOUNT: Final = _trimmed(64, blank=True, null=True)  # wechat, wecom
# An id in a request: trimmed and NFKC-normalised first (full-width ｍ１ is m1); blank
# or null (where allowed) means none.
_ID_IN: Final = {"type": "string", "pattern": rf"^{_WS}*[A-Za-z0-9_.\-:@]{{1,128}}{_WS}*$"}
_NULL_ID: Final = {
    "type": ["string", "null"],
    "pattern": rf"^{_WS}*([A-Za-z0-9_.\-:@]{{1,128}})?{_WS}*$",
}
_PHONE: Final = _trimmed(
    40,
    blank=True,
    null=True,
    description="a mainland mobile (+86 added), a landline with its area code, or E.164 "
    "(+CC… or 00CC…); spaces, dashes, dots and brackets are ignored, full-width digits "
    "read as ASCII; null or blank: none. Another number is a 400 (bad_phone)",
)
_PHONE["examples"] = ["13800138000", "+86 138 0013 8000", "010-6512 3456", "+442079460000"]
_PARENT: Final = {
    **_NULL_ID,
    "description": "the parent unit's id; null or blank: none (a top unit). "
    "A unit below this one is a 409 (cycle)",
}
# What the server reads for kind, roles and yes/no fields: the names and their zh-CN
# labels and aliases (ASCII ones in any case); blank means the default.
# What parse_kind takes: null or blank (the kind `other`), a known kind's code, label or
# alias, or any other label, kept as written (NFKC-normalised and trimmed) when that is
# at most KIND_MAX_LEN printable characters. A regex can say: blanks around, no control
# characters inside; the length counts after normalising and trimming, so it is in
# the description (a longer label is a 400, bad_kind).
_KIND_IN: Final = {
    "type": ["string", "null"],
    "pattern": rf"^{_WS}*[^\x00-\x1f\x7f-\x9f]*{_WS}*$",
    "description": "null or blank: other; a known kind's code, Chinese label or alias ("
    + ", ".join(sorted(a for a in _KIND_ALIASES if a not in KINDS))
    + "); any other label of at most "
    + f"{KIND_MAX_LEN} printable characters (counted after NFKC normalisation and "
    "trimming; longer, or with control characters: 400 bad_kind) is stored as written",
    "examples": [*KINDS, "党支部", "联合党支部", "园区"],
}
_ROLES_IN: Final = {
    "anyOf": [{"type": "null"}, {"type": "array", "items": {"enum": sorted(_ROLE_ALIASES)}}]
}
_BOOL_IN: Final = {
    "anyOf": [{"type": ["boolean", "null"]}, {"enum": sorted(_TRUE | _FALSE)}],
    "description": "true/false, or 是/否, yes/no, 1/0 …",
}
_FILTER: Final = {
    "type": "string",
    "description": "an id (one that matches nothing: an empty list)",
}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path(name: str = "id") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _ID}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    # These routes read an empty value as not given (all but `kind`).
    return {
        "name": name,
        "in": "query",
        "schema": schema,
        "description": description,
        "allowEmptyValue": True,
    }


def _optional_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {**json_body(schema), "required": False}


def _list(key: str, item: str) -> dict[str, Any]:
    return {"type": "object", "properties": {key: {"type": "array", "items": ref(item)}}}


_DELETED: Final = _ok({"type": "object", "properties": {"deleted": {"type": "string"}}})
_KIND_PARAM: Final = {
    "name": "kind",
    "in": "query",
    "required": True,
    "schema": {"enum": ["members", "units", "groups"]},
}
_PAGING: Final = [
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
    _query("offset", {"type": "integer", "minimum": 0, "maximum": 1 << 31}),
]


def _crud(name: str, schema: str, patch: str, *, extra_get: dict[str, Any] | None = None) -> Any:
    return {
        "get": {
            "summary": f"One {name}",
            "parameters": [_path()],
            "responses": {"200": _ok(extra_get or ref(schema)), **error_responses(401, 403, 404)},
        },
        "patch": {
            "summary": f"Change fields of a {name} (only those given)",
            "parameters": [_path()],
            "requestBody": json_body(ref(patch)),
            "responses": {"200": _ok(ref(schema)), **error_responses(400, 401, 403, 404, 409)},
        },
        "delete": {
            "summary": f"Delete a {name}",
            "parameters": [_path()],
            "responses": {"200": _DELETED, **error_responses(401, 403, 404, 409)},
        },
    }


SCHEMAS: Final[dict[str, Any]] = {
    "Unit": {
        "type": "object",
        "required": ["id", "name", "parent", "kind"],
        "properties": {"id": _ID, "name": {"type": "string"}, "parent": _NULL_STR, "kind": _KIND},
    },
    "UnitRequest": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": _ID_IN,
            "name": _NAME,
            "parent": _PARENT,
            "kind": _KIND_IN,
        },
    },
    "UnitPatch": {
        "type": "object",
        "properties": {
            "name": _NAME,
            "parent": _PARENT,
            "kind": _KIND_IN,
        },
    },
    "Member": {
        "type": "object",
        "required": ["id", "name", "unit"],
        "properties": {
            "id": _ID,
            "name": {"type": "string"},
            "unit": _ID,
            "roles": _ROLES,
            "flowing": {"type": "boolean"},
            "home_unit": _NULL_STR,
            "location": {**_NULL_STR, "description": "现居地 of a flowing member"},
            "phone": {**_NULL_STR, "description": "E.164; mainland numbers get +86"},
            "wechat": _NULL_STR,
            "wecom": _NULL_STR,
        },
    },
    "MemberRequest": {
        "type": "object",
        "required": ["id", "name", "unit"],
        "properties": {
            "id": _ID_IN,
            "name": _NAME,
            "unit": _ID_IN,
            "roles": _ROLES_IN,
            "flowing": _BOOL_IN,
            "home_unit": _NULL_ID,
            "location": _LOCATION,
            "phone": _PHONE,
            "wechat": _ACCOUNT,
            "wecom": _ACCOUNT,
        },
    },
    "MemberPatch": {
        "type": "object",
        "description": "Any fields of MemberRequest except id",
        "properties": {
            "name": _NAME,
            "unit": _ID_IN,
            "roles": _ROLES_IN,
            "flowing": _BOOL_IN,
            "home_unit": _NULL_ID,
            "location": _LOCATION,
            "phone": _PHONE,
            "wechat": _ACCOUNT,
            "wecom": _ACCOUNT,
        },
    },
    "Group": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": _ID,
            "name": {"type": "string"},
            "unit": _NULL_STR,
            "owners": {"type": "array", "items": _ID},
            "members": {"type": "array", "items": _ID, "description": "owners included"},
        },
    },
    "GroupRequest": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": _ID_IN,
            "name": _NAME,
            "unit": _NULL_ID,
            "owners": {"type": ["array", "null"], "items": _ID_IN},
            "members": {
                "type": ["array", "null"],
                "items": _ID_IN,
                "description": "owners are added",
            },
        },
    },
    "GroupPatch": {
        "type": "object",
        "properties": {
            "name": _NAME,
            "unit": _NULL_ID,
            "owners": {"type": ["array", "null"], "items": _ID_IN},
            "members": {"type": ["array", "null"], "items": _ID_IN},
        },
    },
    "ImportReport": {
        "type": "object",
        "properties": {
            "kind": {"type": "string"},
            "encoding": {
                "enum": ["utf-8", "utf-8-sig", "gbk", ""],
                "description": "the encoding the file was read with; empty when it is empty",
            },
            "rows": {"type": "integer"},
            "created": {"type": "integer"},
            "updated": {"type": "integer"},
            "unchanged": {"type": "integer"},
            "changed": {"type": "boolean"},
            "message": {"type": "string", "description": "zh-CN summary"},
            "ignored_columns": {"type": "array", "items": {"type": "string"}},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "row": {"type": "integer", "description": "spreadsheet row (header: 1)"},
                        "column": _NULL_STR,
                        "code": {"type": "string"},
                        "message": {"type": "string", "description": "zh-CN"},
                    },
                },
            },
        },
    },
    "Unread": {
        "type": "object",
        "properties": {
            "member": {"type": "string"},
            "unread": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    },
}

PATHS: Final[dict[str, Any]] = {
    "/api/units": {
        "get": {
            "summary": "Units: all, the children of `parent`, or the subtree of `root`",
            "parameters": [
                _query("parent", _FILTER),
                _query("root", _FILTER),
                _query("q", {"type": "string"}, "part of the name or id"),
            ],
            "responses": {"200": _ok(_list("units", "Unit")), **error_responses(401, 403)},
        },
        "post": {
            "summary": "Create a unit",
            "requestBody": json_body(ref("UnitRequest")),
            "responses": {"201": _ok(ref("Unit")), **error_responses(400, 401, 403, 409)},
        },
    },
    "/api/units/{id}": _crud("unit", "Unit", "UnitPatch"),
    "/api/units/{id}/members": {
        "get": {
            "summary": "Members of a unit and (unless recursive=false) its sub-units",
            "parameters": [_path(), _query("recursive", {"type": "boolean"}), *_PAGING],
            "responses": {
                "200": _ok(_list("members", "Member")),
                **error_responses(400, 401, 403, 404),
            },
        }
    },
    "/api/members": {
        "get": {
            "summary": "Search members",
            "parameters": [
                _query("q", {"type": "string"}, "part of the name, id or location"),
                _query("unit", _FILTER),
                _query("recursive", {"type": "boolean"}, "with the unit's sub-units"),
                _query("role", {"enum": ["admin", "staff", "cadre", "member"]}),
                _query("flowing", {"type": "boolean"}),
                *_PAGING,
            ],
            "responses": {"200": _ok(_list("members", "Member")), **error_responses(400, 401, 403)},
        },
        "post": {
            "summary": "Create a member",
            "requestBody": json_body(ref("MemberRequest")),
            "responses": {"201": _ok(ref("Member")), **error_responses(400, 401, 403, 409)},
        },
    },
    "/api/members/{id}": _crud("member", "Member", "MemberPatch"),
    "/api/members/{id}/move": {
        "post": {
            "summary": "Move a member to another unit (live unit subscriptions are re-checked)",
            "parameters": [_path()],
            "requestBody": json_body(
                {"type": "object", "required": ["unit"], "properties": {"unit": _ID_IN}},
            ),
            "responses": {"200": _ok(ref("Member")), **error_responses(400, 401, 403, 404)},
        }
    },
    "/api/members/{id}/flowing": {
        "post": {
            "summary": "Mark a member flowing (home unit kept; optional host unit and location)",
            "parameters": [_path()],
            "requestBody": _optional_body(
                {
                    "type": "object",
                    "properties": {
                        "location": _LOCATION,
                        "unit": _NULL_ID,
                        "home_unit": _NULL_ID,
                    },
                }
            ),
            "responses": {"200": _ok(ref("Member")), **error_responses(400, 401, 403, 404)},
        },
        "delete": {
            "summary": "Mark a flowing member back home (unit = home unit)",
            "parameters": [_path()],
            "responses": {"200": _ok(ref("Member")), **error_responses(401, 403, 404)},
        },
    },
    "/api/members/{id}/unread": {
        "get": {
            "summary": "Unread messages per group channel of a member",
            "parameters": [_path()],
            "responses": {"200": _ok(ref("Unread")), **error_responses(401, 403, 404)},
        }
    },
    "/api/groups": {
        "get": {
            "summary": "Groups (of one member with ?member=)",
            "parameters": [_query("member", _FILTER)],
            "responses": {"200": _ok(_list("groups", "Group")), **error_responses(401, 403)},
        },
        "post": {
            "summary": "Create a group",
            "requestBody": json_body(ref("GroupRequest")),
            "responses": {"201": _ok(ref("Group")), **error_responses(400, 401, 403, 409)},
        },
    },
    "/api/groups/{id}": _crud("group", "Group", "GroupPatch"),
    "/api/groups/{id}/members/{member}": {
        "put": {
            "summary": "Add a member to a group (or change whether an owner)",
            "parameters": [_path(), _path("member")],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"owner": {"type": "boolean"}}}
                    }
                },
            },
            "responses": {"200": _ok(ref("Group")), **error_responses(400, 401, 403, 404)},
        },
        "delete": {
            "summary": "Remove a member from a group: their live subscriptions are cut at once",
            "parameters": [_path(), _path("member")],
            "responses": {"200": _ok(ref("Group")), **error_responses(401, 403, 404)},
        },
    },
    "/api/directory/import": {
        "post": {
            "summary": "Import a CSV file (UTF-8, UTF-8 with BOM or GBK; Chinese or English "
            "headers); all rows or none",
            "parameters": [_KIND_PARAM],
            "description": "The body is the CSV file (text/csv, text/plain, "
            "application/octet-stream, application/vnd.ms-excel) or multipart/form-data "
            "with the file in the field 'file' (and optionally 'kind'); at most 2 MiB "
            "(a larger body is a 413 whatever its Content-Type). Any other Content-Type "
            "is a 415; a multipart body that does not parse is a 400 (bad_multipart). "
            "A units file's kind column takes what UnitRequest's kind takes.",
            "requestBody": {
                "required": True,
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "kind": {"type": "string", "enum": ["members", "units", "groups"]},
                            },
                        }
                    },
                },
            },
            "responses": {
                "200": _ok(ref("ImportReport")),
                "400": _ok(ref("ImportReport"), "rows with errors (nothing imported)"),
                **error_responses(401, 403, 413, 415),
            },
        }
    },
    "/api/directory/export": {
        "get": {
            "summary": "Export as CSV (UTF-8 with BOM, Chinese headers; re-importable)",
            "parameters": [_KIND_PARAM],
            "responses": {
                "200": {
                    "description": "CSV",
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                },
                **error_responses(400, 401, 403),
            },
        }
    },
}
