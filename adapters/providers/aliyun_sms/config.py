"""Alibaba Cloud SMS settings: ``HUB_ALIYUN_SMS_*``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ...core.settings import Values, integer, secret, text
from ...limits import LIMITS
from ...masking import Secret

__all__ = ["DEFAULT_ENDPOINT", "AliyunSmsConfig", "from_values"]

DEFAULT_ENDPOINT: Final = "https://dysmsapi.aliyuncs.com"


@dataclass(frozen=True)
class AliyunSmsConfig:
    access_key_id: str
    access_key_secret: Secret
    sign_name: str
    template_code: str
    endpoint: str = DEFAULT_ENDPOINT
    param_max_chars: int = LIMITS["aliyun-sms"]["param"].limit


def from_values(v: Values) -> AliyunSmsConfig:
    name = "HUB_ALIYUN_SMS_PARAM_MAX_CHARS"
    limit = (
        integer("aliyun-sms", name, text(v, "param_max_chars"))
        if "param_max_chars" in v
        else LIMITS["aliyun-sms"]["param"].limit
    )
    return AliyunSmsConfig(
        access_key_id=text(v, "access_key_id"),
        access_key_secret=secret(v, "access_key_secret"),
        sign_name=text(v, "sign_name"),
        template_code=text(v, "template_code"),
        endpoint=text(v, "endpoint"),
        param_max_chars=limit,
    )
