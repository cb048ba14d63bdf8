"""Phone numbers to E.164 (+86 for mainland numbers written without a country
code) and the masks used wherever personal data could reach a log."""

from __future__ import annotations

import re
from typing import Final

from adapters.phone import compact_number

__all__ = ["PhoneError", "mask_phone", "mask_wechat", "normalize_phone"]

_MAINLAND_MOBILE: Final = re.compile(r"1[3-9][0-9]{9}", re.ASCII)
# a landline without its trunk 0: area code (2-4 digits, not starting with 0) + number.
# The only area code starting with 1 is Beijing's 10 (with 8-digit numbers): any other
# 1… is a mobile number, and one of 10 digits is a mistyped mobile, not a landline.
_MAINLAND_LANDLINE: Final = re.compile(r"10[0-9]{8}|[2-9][0-9]{8,10}", re.ASCII)
_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)


class PhoneError(ValueError):
    """Not a phone number the hub can normalise."""


def normalize_phone(raw: str) -> str:
    """``13800138000``, ``138-0013-8000``, ``+86 138 0013 8000``, ``0086…``,
    ``010-6512 3456``, full-width ``１３８００１３８０００``, ``（010）6512－3456``
    → E.164 (``+8613800138000``, ``+861065123456``).

    The text is NFKC-normalised and its separators dropped by
    :func:`adapters.phone.compact_number`; only ASCII digits remain, so a digit of
    another script is refused rather than stored."""
    s = compact_number(raw.strip())
    if s is None:
        raise PhoneError(raw)
    if s.startswith("+"):
        if s.startswith("+86"):
            rest = s[3:]
            if rest.startswith("0"):  # +86 (0)10 …: the trunk 0 written after the code
                rest = rest[1:]
            if _MAINLAND_MOBILE.fullmatch(rest) or _MAINLAND_LANDLINE.fullmatch(rest):
                return "+86" + rest
            raise PhoneError(raw)
        if _E164.fullmatch(s):
            return s
        raise PhoneError(raw)
    if _MAINLAND_MOBILE.fullmatch(s):
        return "+86" + s
    if s.startswith("86") and _MAINLAND_MOBILE.fullmatch(s[2:]):
        return "+" + s
    if s.startswith("0") and _MAINLAND_LANDLINE.fullmatch(s[1:]):
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
