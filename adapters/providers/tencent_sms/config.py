"""Tencent Cloud SMS settings: ``HUB_TENCENT_SMS_*``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ...core.settings import Values, integer, secret, text
from ...limits import LIMITS
from ...masking import Secret

__all__ = ["DEFAULT_ENDPOINT", "TencentSmsConfig", "from_values"]

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


def from_values(v: Values) -> TencentSmsConfig:
    name = "HUB_TENCENT_SMS_PARAM_MAX_CHARS"
    limit = (
        integer("tencent-sms", name, text(v, "param_max_chars"))
        if "param_max_chars" in v
        else LIMITS["tencent-sms"]["param"].limit
    )
    return TencentSmsConfig(
        secret_id=text(v, "secret_id"),
        secret_key=secret(v, "secret_key"),
        sdk_app_id=text(v, "sdk_app_id"),
        sign_name=text(v, "sign_name"),
        template_id=text(v, "template_id"),
        region=text(v, "region") if "region" in v else "ap-guangzhou",
        endpoint=text(v, "endpoint"),
        param_max_chars=limit,
    )
