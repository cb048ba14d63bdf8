"""WeCom group robot settings: ``HUB_WECOM_BOT_*``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ...core.settings import Values, secret, text
from ...masking import Secret

__all__ = ["DEFAULT_ENDPOINT", "WecomBotConfig", "from_values"]

DEFAULT_ENDPOINT: Final = "https://qyapi.weixin.qq.com"


@dataclass(frozen=True)
class WecomBotConfig:
    key: Secret
    endpoint: str = DEFAULT_ENDPOINT


def from_values(v: Values) -> WecomBotConfig:
    return WecomBotConfig(key=secret(v, "key"), endpoint=text(v, "endpoint"))
