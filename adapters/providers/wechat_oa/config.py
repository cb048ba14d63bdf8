"""WeChat Official Account settings: ``HUB_WECHAT_*``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from ...core.settings import Values, optional_secret, secret, text
from ...masking import Secret

__all__ = ["DEFAULT_ENDPOINT", "WechatConfig", "from_values"]

DEFAULT_ENDPOINT: Final = "https://api.weixin.qq.com"


@dataclass(frozen=True)
class WechatConfig:
    app_id: str
    app_secret: Secret
    template_id: str
    endpoint: str = DEFAULT_ENDPOINT
    callback_token: Secret | None = field(default=None)


def from_values(v: Values) -> WechatConfig:
    return WechatConfig(
        app_id=text(v, "app_id"),
        app_secret=secret(v, "app_secret"),
        template_id=text(v, "template_id"),
        endpoint=text(v, "endpoint"),
        callback_token=optional_secret(v, "callback_token"),
    )
