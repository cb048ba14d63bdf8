"""The directory's records and the parsing of their fields, shared by the HTTP
API and the CSV import: one place says what a valid unit, member or group is.

A field that does not parse raises :class:`FieldError` with a machine code and
a message in Chinese (shown to the administrator as is).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from channels.directory.phone import PhoneError, mask_phone, mask_wechat, normalize_phone

__all__ = [
    "KINDS",
    "KIND_LABELS",
    "KIND_MAX_LEN",
    "ROLES",
    "ROLE_LABELS",
    "FieldError",
    "Group",
    "Member",
    "Unit",
    "kind_label",
    "normalize_id",
    "parse_bool",
    "parse_id",
    "parse_kind",
    "parse_name",
    "parse_phone",
    "parse_ref",
    "parse_roles",
    "parse_text",
]

_ID: Final = re.compile(r"[A-Za-z0-9_.\-:@]{1,128}")

ROLES: Final = ("admin", "staff", "cadre", "member")
ROLE_LABELS: Final = {"admin": "管理员", "staff": "党务工作者", "cadre": "干部", "member": "党员"}
_ROLE_ALIASES: Final = {
    **{r: r for r in ROLES},
    **{label: r for r, label in ROLE_LABELS.items()},
    "party_staff": "staff",
    "党务": "staff",
    "党务干部": "staff",
    "普通党员": "member",
    "成员": "member",
    "群众": "member",
    "管理": "admin",
}
# The kinds the hub knows, in the order of the org tree (the five-level network runs
# province → city → district → street → community; party organisations and the
# kinds of workplaces sit beside it). A known kind is stored as its code; any other
# short label (``联合党支部``, ``园区``) is accepted and stored as written.
KINDS: Final = (
    "province",
    "city",
    "district",
    "street",
    "community",
    "committee",
    "work_committee",
    "general_branch",
    "branch",
    "agency",
    "enterprise",
    "school",
    "institution",
    "new_org",
    "other",
)
KIND_LABELS: Final = {
    "province": "省",
    "city": "市",
    "district": "区",
    "street": "街道",
    "community": "社区",
    "committee": "党委",
    "work_committee": "党工委",
    "general_branch": "党总支",
    "branch": "支部",
    "agency": "机关",
    "enterprise": "企业",
    "school": "学校",
    "institution": "事业单位",
    "new_org": "两新组织",
    "other": "其他",
}
KIND_MAX_LEN: Final = 20
_KIND_ALIASES: Final = {
    **{k: k for k in KINDS},
    **{label: k for k, label in KIND_LABELS.items()},
    "省份": "province",
    "自治区": "province",
    "直辖市": "province",
    "地级市": "city",
    "州": "city",
    "自治州": "city",
    "盟": "city",
    "地区": "city",
    "区县": "district",
    "县": "district",
    "自治县": "district",
    "县级市": "district",
    "旗": "district",
    "镇": "street",
    "乡": "street",
    "乡镇": "street",
    "街道办": "street",
    "苏木": "street",
    "村": "community",
    "居委会": "community",
    "村委会": "community",
    "嘎查": "community",
    "党组": "committee",
    "总支": "general_branch",
    "党支部": "branch",
    "事业": "institution",
    "新经济组织": "new_org",
    "新社会组织": "new_org",
}
_TRUE: Final = frozenset({"1", "true", "yes", "y", "是", "√", "✓", "流动", "流动党员"})
_FALSE: Final = frozenset({"", "0", "false", "no", "n", "否", "×", "不是"})
_ROLE_SPLIT: Final = re.compile(r"[,，、;；/|\s]+")


class FieldError(ValueError):
    """A field that does not parse: ``code`` for programs, ``message`` (zh-CN) for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Unit:
    id: str
    name: str
    parent: str | None
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "parent": self.parent, "kind": self.kind}


@dataclass(slots=True)
class Member:
    """A person in the directory. ``repr`` never shows the phone or WeChat ids."""

    id: str
    name: str
    unit: str
    roles: tuple[str, ...] = ("member",)
    flowing: bool = False
    home_unit: str | None = None
    location: str | None = None
    phone: str | None = field(default=None, repr=False)
    wechat: str | None = field(default=None, repr=False)
    wecom: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "unit": self.unit,
            "roles": list(self.roles),
            "flowing": self.flowing,
            "home_unit": self.home_unit,
            "location": self.location,
            "phone": self.phone,
            "wechat": self.wechat,
            "wecom": self.wecom,
        }

    def masked(self) -> str:
        """For logs: the id and masked contact data."""
        return f"{self.id} ({mask_phone(self.phone)} {mask_wechat(self.wechat)})".strip()


@dataclass(slots=True)
class Group:
    id: str
    name: str
    unit: str | None = None
    owners: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # every member, owners included

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "unit": self.unit,
            "owners": sorted(self.owners),
            "members": sorted(self.members),
        }


def parse_text(value: object, what: str, max_len: int = 200) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError("bad_value", f"{what}必须是文本")
    s = value.strip()
    if len(s) > max_len:
        raise FieldError("too_long", f"{what}过长（最多 {max_len} 个字符）")
    return s or None


def normalize_id(value: str) -> str:
    """The one normalisation of an id read from anywhere (an API field, a path, a CSV
    cell): full-width letters and digits typed with a Chinese IME (``ｍ００１``) become
    ASCII (NFKC) and the surrounding blanks go. Every id that is compared with a
    stored one goes through here, so ``ｍ１`` and ``m1`` are always the same record."""
    return unicodedata.normalize("NFKC", value).strip()


def parse_id(value: object, what: str = "编号") -> str:
    """An id (see :func:`normalize_id`), checked against the id alphabet."""
    s = parse_text(value, what, 128)
    if s is not None:
        s = normalize_id(s) or None
    if s is None:
        raise FieldError("missing_id", f"缺少{what}")
    if not _ID.fullmatch(s):
        raise FieldError("bad_id", f"{what}“{s}”只能包含字母、数字和 _ . - : @")
    return s


def parse_ref(value: object, what: str) -> str | None:
    """An optional reference to a unit by id (``parent``, ``home_unit``), NFKC-
    normalised like the ids themselves and checked against the id alphabet (a text
    that no id can be is refused, also where the reference is then unused); None
    when empty."""
    s = parse_text(value, what, 128)
    s = None if s is None else normalize_id(s) or None
    if s is not None and not _ID.fullmatch(s):
        raise FieldError("bad_id", f"{what}“{s}”只能包含字母、数字和 _ . - : @")
    return s


def parse_name(value: object, what: str = "姓名") -> str:
    s = parse_text(value, what, 100)
    if s is None:
        raise FieldError("missing_name", f"缺少{what}")
    return s


def parse_phone(value: object) -> str | None:
    s = parse_text(value, "手机号", 40)
    if s is None:
        return None
    try:
        return normalize_phone(s)
    except PhoneError:
        raise FieldError("bad_phone", f"手机号“{mask_phone(s)}”格式不正确") from None


def parse_roles(value: object) -> tuple[str, ...]:
    """A list, or text like ``党务工作者、干部``; empty means ``member``."""
    if value is None:
        return ("member",)
    if isinstance(value, str):
        items: Iterable[object] = _ROLE_SPLIT.split(value.strip())
    elif isinstance(value, list):
        items = value
    else:
        raise FieldError("bad_role", "角色必须是文本或列表")
    roles: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise FieldError("bad_role", "角色必须是文本")
        key = item.strip().lower() if item.isascii() else item.strip()
        if not key:
            continue
        role = _ROLE_ALIASES.get(key)
        if role is None:
            raise FieldError(
                "bad_role", f"未知角色“{item.strip()}”（可用：管理员、党务工作者、干部、党员）"
            )
        if role not in roles:
            roles.append(role)
    return tuple(sorted(roles, key=ROLES.index)) or ("member",)


def parse_kind(value: object) -> str:
    """A known kind (code, Chinese label or alias) → its code; any other short label
    is kept as written; empty → ``other``."""
    if value is None:
        return "other"
    if not isinstance(value, str):
        raise FieldError("bad_kind", "类型必须是文本")
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        return "other"
    kind = _KIND_ALIASES.get(text.lower() if text.isascii() else text)
    if kind is not None:
        return kind
    if len(text) > KIND_MAX_LEN:
        raise FieldError(
            "bad_kind", f"单位类型“{text[:KIND_MAX_LEN]}…”过长（最多 {KIND_MAX_LEN} 个字符）"
        )
    if not text.isprintable():
        raise FieldError("bad_kind", "单位类型不能包含控制字符")
    return text


def kind_label(kind: str) -> str:
    """The Chinese label of a kind (a free label is its own label)."""
    return KIND_LABELS.get(kind, kind)


def parse_bool(value: object, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        key = unicodedata.normalize("NFKC", value).strip().lower()  # full-width １, ＹＥＳ
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
    raise FieldError("bad_value", f"{what}应为“是”或“否”")
