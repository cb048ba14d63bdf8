"""Length and parameter limits checked before anything is sent."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from .errors import ValidationError

__all__ = [
    "SMS_MAX_TOTAL_CHARS",
    "check_bytes",
    "check_chars",
    "check_oa_values",
    "check_sms_params",
]

SMS_MAX_TOTAL_CHARS: Final = 500

# Official Account subscription / new-category template value limits (characters).
_OA_LIMITS: Final[Mapping[str, int]] = {
    "thing": 20,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "character_string": 32,
    "phone_number": 17,
    "car_number": 8,
    "name": 20,
    "phrase": 5,
    "amount": 12,
}
_OA_KEY: Final = re.compile(r"([a-z_]+?)(\d+)")


def check_bytes(provider: str, field: str, value: str, limit: int) -> None:
    size = len(value.encode("utf-8"))
    if size > limit:
        raise ValidationError(
            f"{field} is {size} bytes (UTF-8), the limit is {limit} bytes; shorten it",
            provider=provider,
            code="too_long",
        )


def check_chars(provider: str, field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise ValidationError(
            f"{field} is {len(value)} characters, the limit is {limit}; shorten it",
            provider=provider,
            code="too_long",
        )


def check_sms_params(
    provider: str, sign_name: str, values: Sequence[str], max_param_chars: int
) -> None:
    """Each variable within ``max_param_chars``; signature + variables within 500."""
    for index, value in enumerate(values, start=1):
        if not value:
            raise ValidationError(
                f"template parameter #{index} is empty", provider=provider, code="empty_param"
            )
        check_chars(provider, f"template parameter #{index}", value, max_param_chars)
        if "://" in value or value.lower().startswith("www."):
            raise ValidationError(
                f"template parameter #{index} contains a URL, which SMS templates refuse",
                provider=provider,
                code="url_in_param",
            )
    total = len(sign_name) + 2 + sum(len(v) for v in values)
    check_chars(provider, "signature + template parameters", "x" * total, SMS_MAX_TOTAL_CHARS)


def check_oa_values(provider: str, data: Mapping[str, str]) -> None:
    """Enforce the per-type value limits of typed keys such as ``thing1``."""
    if not data:
        raise ValidationError("template data is empty", provider=provider, code="empty_param")
    for key, value in data.items():
        match = _OA_KEY.fullmatch(key)
        limit = _OA_LIMITS.get(match.group(1)) if match else None
        if limit is not None:
            check_chars(provider, f"template value {key!r}", value, limit)
        else:
            check_chars(provider, f"template value {key!r}", value, 200)
