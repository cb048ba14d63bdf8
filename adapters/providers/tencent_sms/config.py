"""Tencent Cloud SMS settings: ``HUB_TENCENT_SMS_*``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ...limits import LIMITS
from ...masking import Secret

__all__ = ["DEFAULT_ENDPOINT", "TencentSmsConfig"]

DEFAULT_ENDPOINT: Final = "https://sms.tencentcloudapi.com"


@dataclass(frozen=True)
class TencentSmsConfig:
    secret_id: str
    secret_key: Secret
    sdk_app_id: str
    sign_name: str
    template_id: str
    region: str = "ap-guangzhou"
    endpoint: str = DEFAULT_ENDPOINT
    param_max_chars: int = LIMITS["tencent-sms"]["param"].limit
