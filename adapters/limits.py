"""Every provider's field limits, in one table, and the one function that fits a text.

Providers count differently: WeCom counts UTF-8 *bytes* (a Chinese character is
3), the SMS providers and the Official Account count *characters*, SMS billing
counts *segments* (70 characters, then 67 per segment). :data:`LIMITS` declares
each provider's fields once, with their unit; the adapters fit what they send
to it (:func:`fit`) and the stand-ins refuse what exceeds it with the
provider's own error code, so both sides agree by construction.

:func:`fit` never cuts inside a character, a surrogate pair or a grapheme
cluster (an emoji with modifiers or a ZWJ sequence, a letter with combining
marks) and keeps the suffix (``…``, or a tail such as ``请点击签收。``) within the
limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import regex

from .errors import ValidationError

__all__ = [
    "ELLIPSIS",
    "LIMITS",
    "OA_TYPED_LIMITS",
    "SMS_MAX_TOTAL_CHARS",
    "FieldLimit",
    "Unit",
    "check",
    "check_bytes",
    "check_chars",
    "check_oa_values",
    "check_sms_params",
    "fit",
    "fit_sms_params",
    "measure",
    "oa_limit",
]

Unit = Literal["bytes", "chars", "segments"]
ELLIPSIS: Final = "…"
SMS_MAX_TOTAL_CHARS: Final = 500
_SEGMENT_FIRST: Final = 70
_SEGMENT_NEXT: Final = 67


@dataclass(frozen=True, slots=True)
class FieldLimit:
    """At most ``limit`` ``unit`` (bytes in UTF-8, characters, or SMS segments)."""

    limit: int
    unit: Unit

    def describe(self) -> str:
        unit = {"bytes": "bytes (UTF-8)", "chars": "characters", "segments": "SMS segments"}
        return f"{self.limit} {unit[self.unit]}"


# Per provider, per field (/work/shared/providers/SPEC.md §3.2, §3.6, §4.4, §5.4).
LIMITS: Final[Mapping[str, Mapping[str, FieldLimit]]] = {
    "wecom": {
        "text": FieldLimit(2048, "bytes"),
        "markdown": FieldLimit(2048, "bytes"),
        "textcard.title": FieldLimit(128, "bytes"),
        "textcard.description": FieldLimit(512, "bytes"),
        "textcard.btntxt": FieldLimit(4, "chars"),
    },
    "wecom-bot": {
        "text": FieldLimit(2048, "bytes"),
        "markdown": FieldLimit(4096, "bytes"),
    },
    "wechat": {
        # untyped keys of old-style templates (first, keyword1, remark): no
        # documented limit; 200 characters keeps a template readable
        "value": FieldLimit(200, "chars"),
        "client_msg_id": FieldLimit(64, "chars"),
    },
    # "param": the default per-variable limit; accounts can have it raised
    # (HUB_ALIYUN_SMS_PARAM_MAX_CHARS, HUB_TENCENT_SMS_PARAM_MAX_CHARS)
    "aliyun-sms": {
        "param": FieldLimit(35, "chars"),
        "total": FieldLimit(SMS_MAX_TOTAL_CHARS, "chars"),
        "OutId": FieldLimit(255, "chars"),
    },
    "tencent-sms": {
        "param": FieldLimit(6, "chars"),
        "total": FieldLimit(SMS_MAX_TOTAL_CHARS, "chars"),
        "SessionContext": FieldLimit(511, "bytes"),
    },
}

# Official Account subscription / new-category template value limits (characters).
OA_TYPED_LIMITS: Final[Mapping[str, int]] = {
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
_GRAPHEME: Final = regex.compile(r"\X")


def oa_limit(key: str) -> FieldLimit:
    """The limit of an Official Account template value by its key (``thing1`` → 20 chars)."""
    match = _OA_KEY.fullmatch(key)
    typed = OA_TYPED_LIMITS.get(match.group(1)) if match else None
    return FieldLimit(typed, "chars") if typed is not None else LIMITS["wechat"]["value"]


def measure(value: str, unit: Unit) -> int:
    """Size of ``value`` in ``unit``."""
    if unit == "bytes":
        return len(value.encode("utf-8"))
    if unit == "chars":
        return len(value)
    n = len(value)
    if n <= _SEGMENT_FIRST:
        return 1 if n else 0
    return -(-n // _SEGMENT_NEXT)


def _budget(limit: int, unit: Unit) -> tuple[int, Unit]:
    """Segments are fitted as the characters they allow."""
    if unit == "segments":
        return (_SEGMENT_FIRST if limit <= 1 else limit * _SEGMENT_NEXT), "chars"
    return limit, unit


def _cut(value: str, limit: int, unit: Unit) -> str:
    """The longest prefix of whole grapheme clusters within ``limit``."""
    out: list[str] = []
    used = 0
    for match in _GRAPHEME.finditer(value):
        cluster = match.group()
        size = measure(cluster, unit)
        if used + size > limit:
            break
        out.append(cluster)
        used += size
    return "".join(out)


def fit(
    value: str,
    limit: int,
    unit: Unit,
    *,
    ellipsis: str = ELLIPSIS,
    tail: str = "",
) -> str:
    """``value + tail`` if it is within ``limit``; else ``value`` cut at a grapheme
    boundary so that ``cut + ellipsis + tail`` is within it. When not even the
    ellipsis and the tail fit, the whole text is cut without an ellipsis."""
    limit, unit = _budget(limit, unit)
    whole = value + tail
    if measure(whole, unit) <= limit:
        return whole
    keep = ellipsis + tail
    room = limit - measure(keep, unit)
    if room <= 0:
        return _cut(whole, limit, unit)
    return _cut(value, room, unit).rstrip() + keep


def check(provider: str, field: str, value: str, limit: FieldLimit) -> None:
    """Raise ``ValidationError(code="too_long")`` when ``value`` exceeds ``limit``."""
    if limit.unit == "segments":
        size, ceiling = len(value), _budget(limit.limit, "segments")[0]
        if size > ceiling:
            raise ValidationError(
                f"{field} is {size} characters, more than {limit.describe()}; shorten it",
                provider=provider,
                code="too_long",
            )
        return
    size = measure(value, limit.unit)
    if size > limit.limit:
        shown = "bytes (UTF-8)" if limit.unit == "bytes" else "characters"
        raise ValidationError(
            f"{field} is {size} {shown}, the limit is {limit.describe()}; shorten it",
            provider=provider,
            code="too_long",
        )


def check_bytes(provider: str, field: str, value: str, limit: int) -> None:
    check(provider, field, value, FieldLimit(limit, "bytes"))


def check_chars(provider: str, field: str, value: str, limit: int) -> None:
    check(provider, field, value, FieldLimit(limit, "chars"))


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


def fit_sms_params(values: Sequence[str], sign_name: str, max_param_chars: int) -> list[str]:
    """Each variable fitted to ``max_param_chars``, then the longest ones shortened
    until signature + variables are within the 500-character total."""
    fitted = [fit(v, max_param_chars, "chars") for v in values]
    budget = SMS_MAX_TOTAL_CHARS - len(sign_name) - 2
    while sum(len(v) for v in fitted) > budget and fitted:
        longest = max(range(len(fitted)), key=lambda i: len(fitted[i]))
        excess = sum(len(v) for v in fitted) - budget
        fitted[longest] = fit(fitted[longest], max(1, len(fitted[longest]) - excess), "chars")
    return fitted


def check_oa_values(provider: str, data: Mapping[str, str]) -> None:
    """Enforce the per-type value limits of typed keys such as ``thing1``."""
    if not data:
        raise ValidationError("template data is empty", provider=provider, code="empty_param")
    for key, value in data.items():
        check(provider, f"template value {key!r}", value, oa_limit(key))
