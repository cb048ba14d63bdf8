"""Alibaba Cloud SMS settings: ``HUB_ALIYUN_SMS_*``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ...limits import LIMITS
from ...masking import Secret

__all__ = ["DEFAULT_ENDPOINT", "AliyunSmsConfig"]

DEFAULT_ENDPOINT: Final = "https://dysmsapi.aliyuncs.com"


@dataclass(frozen=True)
class AliyunSmsConfig:
    access_key_id: str
    access_key_secret: Secret
    sign_name: str
    template_code: str
    endpoint: str = DEFAULT_ENDPOINT
    param_max_chars: int = LIMITS["aliyun-sms"]["param"].limit
