"""Tencent Cloud SMS error codes mapped onto the adapter error classes."""

from __future__ import annotations

from typing import Final

from ... import errors

__all__ = ["PROVIDER", "classify"]

PROVIDER: Final = "tencent-sms"

_RECIPIENT_PREFIXES: Final = (
    "InvalidParameterValue.IncorrectPhoneNumber",
    "FailedOperation.PhoneNumberParseFail",
    "FailedOperation.PhoneNumberInBlacklist",
    "MissingParameter.EmptyPhoneNumberSet",
    "LimitExceeded.PhoneNumber",
    "LimitExceeded.DeliveryFrequencyLimit",
)
_ACCOUNT_PREFIXES: Final = (
    "LimitExceeded.App",
    "LimitExceeded.DailyLimit",
    "FailedOperation.InsufficientBalanceInSmsPackage",
    "InvalidParameterValue.SdkAppIdNotExist",
)


def classify(code: str, message: str) -> errors.AdapterError:
    text = f"{code}: {message}"
    if code.startswith("RequestLimitExceeded"):
        return errors.RateLimitedError(text, provider=PROVIDER, code=code)
    if code in ("InternalError.RequestTimeException", "AuthFailure.SignatureExpire"):
        return errors.TokenExpiredError(text, provider=PROVIDER, code=code)
    if code.startswith("InternalError"):
        return errors.TransientProviderError(text, provider=PROVIDER, code=code)
    if code.startswith(("AuthFailure", "UnauthorizedOperation")):
        return errors.AuthenticationError(text, provider=PROVIDER, code=code)
    if code.startswith(_RECIPIENT_PREFIXES):
        return errors.RecipientError(text, provider=PROVIDER, code=code)
    if code.startswith(_ACCOUNT_PREFIXES):
        return errors.RejectedError(text, provider=PROVIDER, code=code, provider_fault=True)
    return errors.RejectedError(text, provider=PROVIDER, code=code)
