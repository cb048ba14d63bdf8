"""WeCom group robot settings: ``HUB_WECOM_BOT_*``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ...masking import Secret

__all__ = ["DEFAULT_ENDPOINT", "WecomBotConfig"]

DEFAULT_ENDPOINT: Final = "https://qyapi.weixin.qq.com"


@dataclass(frozen=True)
class WecomBotConfig:
    key: Secret
    endpoint: str = DEFAULT_ENDPOINT
