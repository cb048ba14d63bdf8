"""Phone numbers to E.164 (+86 for mainland numbers written without a country
code) and the masks used wherever personal data could reach a log."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["PhoneError", "mask_phone", "mask_wechat", "normalize_phone"]

_SEPARATORS: Final = re.compile(r"[\s\-().·]")
_MAINLAND_MOBILE: Final = re.compile(r"1[3-9]\d{9}")
_MAINLAND_LANDLINE: Final = re.compile(r"0[1-9]\d{8,10}")  # area code with its 0 + number
_E164: Final = re.compile(r"\+[1-9]\d{6,14}")


class PhoneError(ValueError):
    """Not a phone number the hub can normalise."""


def normalize_phone(raw: str) -> str:
    """``13800138000``, ``138-0013-8000``, ``+86 138 0013 8000``, ``0086…``,
    ``010-6512 3456`` → E.164 (``+8613800138000``, ``+861065123456``)."""
    s = _SEPARATORS.sub("", raw.strip().replace("＋", "+"))
    if s.startswith("00"):
        s = "+" + s[2:]
    if s.startswith("+"):
        if s.startswith("+86"):
            rest = s[3:]
            if _MAINLAND_MOBILE.fullmatch(rest) or _MAINLAND_LANDLINE.fullmatch("0" + rest):
                return s
            raise PhoneError(raw)
        if _E164.fullmatch(s):
            return s
        raise PhoneError(raw)
    if _MAINLAND_MOBILE.fullmatch(s):
        return "+86" + s
    if s.startswith("86") and _MAINLAND_MOBILE.fullmatch(s[2:]):
        return "+" + s
    if _MAINLAND_LANDLINE.fullmatch(s):
        return "+86" + s[1:]
    raise PhoneError(raw)


def mask_phone(phone: str | None) -> str:
    """``+8613800138000`` → ``+86138****8000``; keeps the country code, three digits
    and the last four."""
    if not phone:
        return ""
    if len(phone) <= 7:
        return "*" * len(phone)
    head = 6 if phone.startswith("+86") else 4
    return phone[:head] + "****" + phone[-4:]


def mask_wechat(wechat: str | None) -> str:
    """``wxid_abc123`` → ``wx***3``."""
    if not wechat:
        return ""
    if len(wechat) <= 3:
        return "***"
    return wechat[:2] + "***" + wechat[-1]
