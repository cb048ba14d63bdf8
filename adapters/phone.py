"""E.164 normalisation of phone numbers (mainland numbers default to +86)."""

from __future__ import annotations

import re
from typing import Final

from .errors import ValidationError

__all__ = ["is_mainland", "national_number", "normalize_phone", "to_aliyun", "to_tencent"]

_SEPARATORS: Final = re.compile(r"[\s\-().]")
_MAINLAND: Final = re.compile(r"1[3-9]\d{9}")
_E164: Final = re.compile(r"\+[1-9]\d{6,14}")


def normalize_phone(raw: str, *, provider: str = "") -> str:
    """Return the E.164 form of ``raw``; a bare 11-digit mainland number gets +86.

    Accepts spaces, dashes, dots and parentheses, a leading ``+86``, ``0086``
    or ``86``, or an international number as ``+CC…`` / ``00CC…``. Mainland
    numbers must be 11 digits starting with 1 and a second digit 3-9.
    """
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+86"):
        national = text[3:]
    elif text.startswith("+"):
        if not _E164.fullmatch(text):
            raise _invalid(raw, provider)
        return text
    elif len(text) == 13 and text.startswith("86"):
        national = text[2:]
    else:
        national = text
    if not _MAINLAND.fullmatch(national):
        raise _invalid(raw, provider)
    return "+86" + national


def is_mainland(e164: str) -> bool:
    return e164.startswith("+86")


def national_number(e164: str) -> str:
    """``+8613800000000`` → ``13800000000``."""
    return e164[3:] if is_mainland(e164) else e164.lstrip("+")


def to_aliyun(e164: str) -> str:
    """Alibaba form: bare mainland number, or country code + number without ``+``."""
    return national_number(e164)


def to_tencent(e164: str) -> str:
    """Tencent form: E.164 with ``+``."""
    return e164


def _invalid(raw: str, provider: str) -> ValidationError:
    shown = raw if len(raw) < 6 else raw[:3] + "****" + raw[-2:]
    return ValidationError(
        f"not a valid phone number: {shown!r} (expected a mainland mobile number such as "
        "13800000000 or +8613800000000, or an international number as +CC...)",
        provider=provider,
        code="invalid_phone_number",
    )
