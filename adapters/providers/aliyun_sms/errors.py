"""Alibaba Cloud SMS error codes mapped onto the adapter error classes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ... import errors

__all__ = ["PROVIDER", "classify"]

PROVIDER: Final = "aliyun-sms"

_RECIPIENT: Final = frozenset(
    {"isv.MOBILE_NUMBER_ILLEGAL", "isv.BUSINESS_LIMIT_CONTROL", "isv.BLACK_KEY_CONTROL_LIMIT"}
)
_ACCOUNT: Final = frozenset(
    {
        "isv.DAY_LIMIT_CONTROL",
        "isv.MONTH_LIMIT_CONTROL",
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.OUT_OF_SERVICE",
        "isv.PRODUCT_UN_SUBSCRIPT",
        "isv.PRODUCT_UNSUBSCRIBE",
        "isv.ACCOUNT_NOT_EXISTS",
        "isv.ACCOUNT_ABNORMAL",
        "isv.DENY_IP_RANGE",
        "isp.RAM_PERMISSION_DENY",
    }
)
_AUTH_PREFIXES: Final = (
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "InvalidTimeStamp.Format",
    "Forbidden",
)


def classify(
    status: int, body: Mapping[str, object], headers: Mapping[str, str]
) -> errors.AdapterError:
    code = str(body.get("Code") or f"http_{status}")
    message = str(body.get("Message") or "no message")
    text = f"{code}: {message}"
    hint = headers.get("x-acs-retry-after") or headers.get("X-Acs-Retry-After")
    if code.startswith("Throttling"):
        retry_after = float(hint) if hint else None
        return errors.RateLimitedError(text, provider=PROVIDER, code=code, retry_after=retry_after)
    if code in ("isp.SYSTEM_ERROR", "ServiceUnavailable", "InternalError") or status >= 500:
        return errors.TransientProviderError(text, provider=PROVIDER, code=code)
    if code in ("InvalidTimeStamp.Expired", "SignatureNonceUsed"):
        return errors.TokenExpiredError(text, provider=PROVIDER, code=code)
    if code.startswith(_AUTH_PREFIXES):
        return errors.AuthenticationError(text, provider=PROVIDER, code=code)
    if code in _ACCOUNT:
        return errors.RejectedError(text, provider=PROVIDER, code=code, provider_fault=True)
    if code in _RECIPIENT:
        return errors.RecipientError(text, provider=PROVIDER, code=code)
    return errors.RejectedError(text, provider=PROVIDER, code=code)
