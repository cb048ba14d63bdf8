"""WeCom and Official Account ``errcode`` values mapped onto the adapter error classes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .. import errors
from .http import HttpResponse

__all__ = ["classify", "errcode_body"]

_TOKEN: Final = frozenset({40014, 42001, 41001})
_AUTH: Final = frozenset({40013, 40091, 40056, 40125, 40164, 48001, 48002, 50003, 60020, 93000})
_RECIPIENT: Final = frozenset({40003, 43004, 43101, 60011, 60021, 81013})


def classify(provider: str, errcode: int, errmsg: str, *, official: bool) -> errors.AdapterError:
    """``official`` switches to Official Account meanings (40001 token, 45009 daily quota)."""
    text = f"errcode {errcode}: {errmsg}"
    code = str(errcode)
    if errcode == -1:
        return errors.TransientProviderError(text, provider=provider, code=code)
    if errcode in _TOKEN or (official and errcode == 40001):
        return errors.TokenExpiredError(text, provider=provider, code=code)
    if errcode == 40001 or errcode in _AUTH:
        return errors.AuthenticationError(text, provider=provider, code=code)
    if errcode == 45033:
        return errors.RateLimitedError(text, provider=provider, code=code, retry_after=1.0)
    if errcode == 45011 or (errcode == 45009 and not official):
        return errors.RateLimitedError(text, provider=provider, code=code, retry_after=60.0)
    if errcode == 45009:
        return errors.RejectedError(text, provider=provider, code=code, provider_fault=True)
    if errcode in _RECIPIENT:
        return errors.RecipientError(text, provider=provider, code=code)
    return errors.RejectedError(text, provider=provider, code=code)


def errcode_body(
    provider: str, response: HttpResponse, *, official: bool = False
) -> Mapping[str, Any]:
    """Parse a WeChat JSON answer; raise unless ``errcode`` is absent or 0."""
    if response.status >= 500:
        raise errors.TransientProviderError(
            f"HTTP {response.status}", provider=provider, code=f"http_{response.status}"
        )
    body = response.json(provider)
    if not isinstance(body, dict):
        raise errors.TransientProviderError(
            "answer is not a JSON object", provider=provider, code="bad_response"
        )
    errcode = body.get("errcode", 0)
    if errcode not in (0, None):
        code = errcode if isinstance(errcode, int) else -1
        raise classify(provider, code, str(body.get("errmsg", "")), official=official)
    if response.status != 200:
        raise errors.TransientProviderError(
            f"HTTP {response.status}", provider=provider, code=f"http_{response.status}"
        )
    return body
