"""Keep secrets and phone numbers out of logs and reprs.

:func:`mask_text` is the one function every log line of the adapters and the
alerts passes through (:func:`masked_logger` installs it as a logger filter), so
a provider that echoes its input — a phone number, an OpenID, a key, a token, a
signature — cannot put it in the log, whatever the calling code formats.
"""

from __future__ import annotations

import logging
import re
from typing import Final

__all__ = [
    "MaskingFilter",
    "Secret",
    "mask_address",
    "mask_phone",
    "mask_text",
    "masked_logger",
    "redact_url",
]

_REDACTED: Final = "***"
_MIN_KNOWN: Final = 6
_KNOWN_SECRETS: set[str] = set()
_URL_SECRET = re.compile(
    r"(?i)((?:access_token|corpsecret|secret|key|signature|appsecret)=)[^&\s]*"
)


class Secret:
    """A string that never shows itself in ``repr``/``str`` (use ``reveal()``)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if len(value) >= _MIN_KNOWN:
            _KNOWN_SECRETS.add(value)  # mask_text hides it wherever it shows up

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


# name = value, name: value, "name": "value" where the name says it is a secret
_SECRET_PAIR: Final = re.compile(
    r"""(?ix)
    ((?:access_?token|access_?key_?(?:id|secret)?|secret(?:_?(?:id|key))?|corp_?secret|
        app_?secret|api_?key|password|passwd|signature|msg_signature|sign|token|ticket|
        credential|authorization|key)
     ["']?\s*[:=]\s*["']?(?:bearer\s+|tc3-hmac-sha256\s+|acs3-hmac-sha256\s+)?)
    ([^\s"'&,;|}\]]+)
    """
)
# user ids named as such: WeChat / WeCom recipients
_ID_PAIR: Final = re.compile(
    r"""(?ix)
    ((?:touser|openid|unionid|userid|user_?id|fromusername|tousername|external_?userid)
     ["']?(?:\s*[:=]\s*|\s+)["']?)
    ([^\s"'&,;|}\]]+)
    """
)
_OPENID: Final = re.compile(r"(?<![A-Za-z0-9_-])o[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])")
_PHONE: Final = re.compile(
    r"(?<![A-Za-z0-9_+])(?:\+\d{7,15}|(?:0086|86)?1[3-9]\d{9})(?![A-Za-z0-9_])"
)
_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|log-[0-9a-f]{32}"
)  # provider request ids and the log adapter's message ids
_OPAQUE: Final = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_=-]{24,}(?![A-Za-z0-9+/_=-])")


def _opaque(match: re.Match[str]) -> str:
    word = match.group(0)
    if _UUID.fullmatch(word) or not (re.search(r"\d", word) and re.search(r"[A-Za-z]", word)):
        return word  # request ids and plain words or numbers stay readable
    return _REDACTED


def _phone(match: re.Match[str]) -> str:
    number = match.group(0)
    if number.startswith("0086"):
        number = "+86" + number[4:]
    elif number.startswith("86") and len(number) == 13:
        number = "+" + number
    return mask_phone(number)


def mask_text(text: str) -> str:
    """``text`` with every known secret, anything named or shaped like a key, token
    or signature (``***``), WeChat/WeCom ids and phone numbers (E.164 and bare
    Chinese mobiles, masked like :func:`mask_phone`) hidden."""
    for known in sorted(_KNOWN_SECRETS, key=len, reverse=True):
        if known in text:
            text = text.replace(known, _REDACTED)
    text = _SECRET_PAIR.sub(lambda m: m.group(1) + _REDACTED, text)
    text = _ID_PAIR.sub(lambda m: m.group(1) + mask_address(m.group(2)), text)
    text = _OPENID.sub(lambda m: mask_address(m.group(0)), text)
    text = _PHONE.sub(_phone, text)
    return _OPAQUE.sub(_opaque, text)


class MaskingFilter(logging.Filter):
    """Rewrites each record's message (and traceback text) through :func:`mask_text`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it
            return True
        record.msg, record.args = mask_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


_FILTER: Final = MaskingFilter()


def masked_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with every record it makes passed through
    :func:`mask_text` (a logger filter: it applies to this logger's own records)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
