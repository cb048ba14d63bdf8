"""Keep secrets and phone numbers out of logs and reprs."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["Secret", "mask_address", "mask_phone", "redact_url"]

_REDACTED: Final = "***"
_URL_SECRET = re.compile(
    r"(?i)((?:access_token|corpsecret|secret|key|signature|appsecret)=)[^&\s]*"
)


class Secret:
    """A string that never shows itself in ``repr``/``str`` (use ``reveal()``)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_REDACTED!r})"

    def __str__(self) -> str:
        return _REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def mask_phone(number: str) -> str:
    """``+8613800000000`` → ``+86138****0000``; ``13800000000`` → ``138****0000``."""
    prefix = ""
    digits = number
    if number.startswith("+86") and len(number) == 14:
        prefix, digits = "+86", number[3:]
    elif number.startswith("+"):
        prefix, digits = "+", number[1:]
    if len(digits) <= 4:
        return prefix + "*" * len(digits)
    if len(digits) < 8:
        return prefix + digits[:1] + "*" * (len(digits) - 3) + digits[-2:]
    return prefix + digits[:3] + "****" + digits[-4:]


def mask_address(address: str) -> str:
    """Mask any recipient address: phone numbers as above, other ids in the middle."""
    compact = address.replace(" ", "").replace("-", "")
    if re.fullmatch(r"\+?\d{5,20}", compact):
        return mask_phone(compact)
    if len(address) <= 4:
        return "*" * len(address)
    keep = 2 if len(address) < 10 else 4
    return address[:keep] + "****" + address[-keep:]


def redact_url(url: str) -> str:
    """Replace token, key and secret query values in a URL by ``***``."""
    return _URL_SECRET.sub(lambda m: m.group(1) + _REDACTED, url)
