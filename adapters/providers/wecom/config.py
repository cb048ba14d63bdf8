"""WeCom application settings: ``HUB_WECOM_*``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ...masking import Secret

__all__ = ["DEFAULT_ENDPOINT", "WecomConfig"]

DEFAULT_ENDPOINT: Final = "https://qyapi.weixin.qq.com"


@dataclass(frozen=True)
class WecomConfig:
    corp_id: str
    corp_secret: Secret
    agent_id: int
    endpoint: str = DEFAULT_ENDPOINT
