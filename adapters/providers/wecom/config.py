"""WeCom application settings: ``HUB_WECOM_*``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ...core.settings import Values, integer, secret, text
from ...masking import Secret

__all__ = ["DEFAULT_ENDPOINT", "WecomConfig", "from_values"]

DEFAULT_ENDPOINT: Final = "https://qyapi.weixin.qq.com"


@dataclass(frozen=True)
class WecomConfig:
    corp_id: str
    corp_secret: Secret
    agent_id: int
    endpoint: str = DEFAULT_ENDPOINT


def from_values(v: Values) -> WecomConfig:
    return WecomConfig(
        corp_id=text(v, "corp_id"),
        corp_secret=secret(v, "corp_secret"),
        agent_id=integer("wecom", "HUB_WECOM_AGENT_ID", text(v, "agent_id")),
        endpoint=text(v, "endpoint"),
    )
