"""E.164 normalisation of phone numbers (mainland numbers default to +86).

Numbers come from spreadsheets typed with a Chinese IME as often as from forms,
so the text is NFKC-normalised first (full-width ``１３９``, ``＋``, ``（）``,
``－`` become ASCII), the usual separators are dropped, and what remains must be
ASCII digits with at most a leading ``+``: a digit of another script (``١``,
``३``), which ``\\d`` and ``int()`` would accept, is refused.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from .errors import ValidationError

__all__ = [
    "compact_number",
    "is_mainland",
    "national_number",
    "normalize_phone",
    "to_aliyun",
    "to_tencent",
]

# after NFKC: whitespace, hyphens and dashes (- ‐ ‑ ‒ – — ― −), parentheses, dots
_SEPARATORS: Final = re.compile(r"[\s\-\u2010-\u2015\u2212().·\u30fb]")
_COMPACT: Final = re.compile(r"\+?[0-9]+", re.ASCII)
_MAINLAND: Final = re.compile(r"1[3-9][0-9]{9}", re.ASCII)
_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)


def compact_number(raw: str) -> str | None:
    """``（010）6512－3456`` → ``01065123456``, ``＋86 139…`` → ``+86139…``; a
    leading ``00`` becomes ``+``. None when anything but ASCII digits (and one
    leading ``+``) is left once the separators are gone."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if not _COMPACT.fullmatch(text):
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    return text


def normalize_phone(raw: str, *, provider: str = "") -> str:
    """Return the E.164 form of ``raw``; a bare 11-digit mainland number gets +86.

    Accepts full-width digits and the separators of :func:`compact_number`, a
    leading ``+86``, ``0086`` or ``86``, or an international number as
    ``+CC…`` / ``00CC…``. Mainland numbers must be 11 digits starting with 1 and
    a second digit 3-9.
    """
    text = compact_number(raw)
    if text is None:
        raise _invalid(raw, provider)
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
