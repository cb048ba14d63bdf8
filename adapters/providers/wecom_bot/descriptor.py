"""The WeCom group robot as the registry, the configuration and the sandbox see it.

It has no callbacks, and no stand-in of its own: the WeCom stand-in serves the
robot webhook too (``key="wecom"``).
"""

from __future__ import annotations

from ...limits import LIMITS
from ..descriptor import ProviderDescriptor, StandinSpec
from ..wecom.standin import WecomStandin
from .adapter import PROVIDER as NAME
from .adapter import WecomBotAdapter
from .config import DEFAULT_ENDPOINT, WecomBotConfig

__all__ = ["PROVIDER"]


def _env(s: WecomStandin) -> dict[str, str]:
    return {"HUB_WECOM_BOT_KEY": s.bot_key, "HUB_WECOM_BOT_ENDPOINT": s.base_url}


PROVIDER: ProviderDescriptor[WecomBotConfig] = ProviderDescriptor(
    name=NAME,
    kind="wechat",
    family="WECOM_BOT",
    config_type=WecomBotConfig,
    default_endpoint=DEFAULT_ENDPOINT,
    make_adapter=WecomBotAdapter,
    limits=LIMITS[NAME],
    standin=StandinSpec(key="wecom", env=_env),
)
