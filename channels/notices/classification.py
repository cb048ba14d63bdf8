"""The classification rule: classified documents (秘密, 机密, 绝密) never travel
over this hub. Only 公开 and 内部 go out; anything else is refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from hub.protocol.errors import Code, HubError

__all__ = ["ALLOWED", "CLASSIFIED", "ClassifiedRefused", "check_classification"]

ALLOWED: Final = ("公开", "内部")
CLASSIFIED: Final = ("秘密", "机密", "绝密")
_ALIASES: Final = {
    "public": "公开",
    "internal": "内部",
    "secret": "秘密",
    "confidential": "机密",
    "top-secret": "绝密",
    "top_secret": "绝密",
}


class ClassifiedRefused(HubError):
    """A classified notice or attachment: refused (403) and logged for administrators."""

    def __init__(self, level: str, where: str) -> None:
        super().__init__(
            Code.PERMISSION_DENIED,
            f"{where}密级为“{level}”：涉密文件严禁通过本系统传输，请按保密规定通过机要渠道办理。"
            "本次发送已被拒绝并记录，管理员可查。只有“公开”和“内部”文件可以发送。",
        )
        self.level = level
        self.where = where


def _level(value: object, where: str) -> str:
    if value is None:
        return "内部"
    if not isinstance(value, str):
        raise HubError(Code.BAD_REQUEST, f"{where}的密级应为 公开、内部")
    level = _ALIASES.get(value.strip().lower(), value.strip())
    if level in CLASSIFIED:
        raise ClassifiedRefused(level, where)
    if level not in ALLOWED:
        raise HubError(Code.BAD_REQUEST, f"{where}的密级“{value}”无法识别（可用：公开、内部）")
    return level


def check_classification(value: object, attachments: Sequence[dict[str, Any]]) -> str:
    """The notice's level (default 内部); raises :class:`ClassifiedRefused`."""
    level = _level(value, "通知")
    for att in attachments:
        if "classification" in att:
            att["classification"] = _level(att["classification"], f"附件“{att['name']}”")
    return level
