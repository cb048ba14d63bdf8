"""WeChat Official Account settings: ``HUB_WECHAT_*``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from ...masking import Secret

__all__ = ["DEFAULT_ENDPOINT", "WechatConfig"]

DEFAULT_ENDPOINT: Final = "https://api.weixin.qq.com"


@dataclass(frozen=True)
class WechatConfig:
    app_id: str
    app_secret: Secret
    template_id: str
    endpoint: str = DEFAULT_ENDPOINT
    callback_token: Secret | None = field(default=None)
