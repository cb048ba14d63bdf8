"""What a notice is, and the parsing of ``POST /api/notices`` (and ``/api/alerts``).

Receipt states are :class:`channels.notices.states.ReceiptState`. A field that
does not parse raises ``HubError`` 107 with a message in Chinese.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from channels.directory.model import normalize_id
from channels.notices.classification import check_classification
from hub.protocol.errors import Code, HubError

__all__ = [
    "Audience",
    "Draft",
    "Notice",
    "bad",
    "parse_draft",
]

_ID: Final = re.compile(r"[A-Za-z0-9_.\-:@]{1,128}")
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


def bad(message: str) -> HubError:
    return HubError(Code.BAD_REQUEST, message)


@dataclass(slots=True)
class Audience:
    """Who receives it: units (``subunits``: with their sub-units), groups, roles
    (optionally within the units), listed members, and ``flowing`` (only flowing
    members of what the rest selects; alone: every flowing member)."""

    units: list[str] = field(default_factory=list)
    subunits: bool = True
    groups: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    flowing: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "subunits": self.subunits,
            "groups": self.groups,
            "roles": self.roles,
            "members": self.members,
            "flowing": self.flowing,
        }


@dataclass(slots=True)
class Draft:
    """A parsed request: everything but the resolved recipients."""

    kind: str
    sender: str
    title: str
    body: str
    attachments: list[dict[str, Any]]
    audience: Audience
    require_ack: bool
    deadline: str | None
    classification: str
    urgency: str
    policy: dict[str, Any]
    idem: str | None


@dataclass(slots=True)
class Notice:
    id: str
    kind: str
    sender: str
    title: str
    body: str
    attachments: list[dict[str, Any]]
    audience: dict[str, Any]
    require_ack: bool
    deadline: str | None
    classification: str
    urgency: str
    policy: dict[str, Any]
    recipients: int
    created_at: int
    recalled_at: int | None = None
    recalled_by: str | None = None

    def payload(self) -> dict[str, Any]:
        """The ``notice`` object of a ``member:<id>`` message (PROTOCOL.md §3)."""
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "from": self.sender,
            "require_ack": self.require_ack,
            "deadline": self.deadline,
            "attachments": self.attachments,
            "classification": self.classification,
            "urgency": self.urgency,
            "ts": self.created_at,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.payload(),
            "kind": self.kind,
            "audience": self.audience,
            "policy": self.policy,
            "recipients": self.recipients,
            "created_at": self.created_at,
            "recalled_at": self.recalled_at,
            "recalled_by": self.recalled_by,
        }


def _text(body: Mapping[str, Any], key: str, what: str, limit: int, required: bool) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise bad(f"缺少{what}（{key}）或格式不正确")
    if len(value) > limit:
        raise bad(f"{what}过长（最多 {limit} 个字符）")
    return value.strip()


def _ids(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"{what}应为编号的列表")
    ids = [normalize_id(v) for v in value]  # the directory's one normalisation: ｂ１ is b1
    if not all(_ID.fullmatch(v) for v in ids):
        raise bad(f"{what}应为编号的列表")
    return list(dict.fromkeys(ids))


def parse_audience(raw: object) -> Audience:
    if not isinstance(raw, dict):
        raise bad('audience 应为对象，例如 {"units": ["sfq-xh"], "subunits": true}')
    aud = Audience(
        units=_ids(raw.get("units"), "units"),
        subunits=raw.get("subunits", True) is not False,
        groups=_ids(raw.get("groups"), "groups"),
        roles=_ids(raw.get("roles"), "roles"),
        members=_ids(raw.get("members"), "members"),
        flowing=raw.get("flowing") is True,
    )
    if not (aud.units or aud.groups or aud.roles or aud.members or aud.flowing):
        raise bad("audience 至少要指定单位、群组、角色、成员或流动党员之一")
    return aud


def _attachment(item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise bad("附件应为对象 {name, url, size, sha256}")
    name, url = item.get("name"), item.get("url")
    size, digest = item.get("size"), item.get("sha256")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise bad("附件缺少名称（name）")
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "/")):
        raise bad(f"附件“{name}”的地址（url）不正确")
    if isinstance(size, float) and size.is_integer():  # JSON 1024.0 is the integer 1024
        size = int(size)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise bad(f"附件“{name}”的大小（size）应为非负整数")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest.lower()):
        raise bad(f"附件“{name}”的 sha256 应为 64 位十六进制")
    out: dict[str, Any] = {"name": name.strip(), "url": url, "size": size, "sha256": digest.lower()}
    if item.get("classification") is not None:
        out["classification"] = item["classification"]
    return out


def _deadline(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad("deadline 应为 ISO 8601 时间，例如 2025-07-01T17:00:00+08:00")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise bad("deadline 应为 ISO 8601 时间，例如 2025-07-01T17:00:00+08:00") from None
    return value


def parse_draft(body: Mapping[str, Any], sender: str, kind: str = "notice") -> Draft:
    """Validate a request body; classified documents are refused here (403)."""
    title = _text(body, "title", "标题", 200, True)
    raw_att = body.get("attachments") or []
    if not isinstance(raw_att, list) or len(raw_att) > 50:
        raise bad("attachments 应为附件列表（最多 50 个）")
    attachments = [_attachment(a) for a in raw_att]
    classification = check_classification(body.get("classification"), attachments)
    urgency = body.get("urgency", "normal")
    if urgency not in ("normal", "urgent"):
        raise bad("urgency 应为 normal 或 urgent")
    idem = body.get("idem", body.get("idempotency_key"))
    if idem is not None and (not isinstance(idem, str) or not 1 <= len(idem) <= 64):
        raise bad("idem（幂等键）应为 1 到 64 个字符")
    require_ack = body.get("require_ack", True)
    if not isinstance(require_ack, bool):
        raise bad("require_ack 应为 true 或 false")
    if body.get("audience") is None and body.get("members") is not None:
        audience = parse_audience({"members": body.get("members")})
    else:
        audience = parse_audience(body.get("audience"))
    return Draft(
        kind=kind,
        sender=sender,
        title=title,
        body=_text(body, "body", "正文", 20000, kind == "notice"),
        attachments=attachments,
        audience=audience,
        require_ack=require_ack,
        deadline=_deadline(body.get("deadline")),
        classification=classification,
        urgency=str(urgency),
        policy={},
        idem=idem,
    )
