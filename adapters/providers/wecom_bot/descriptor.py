"""The WeCom group robot as the registry, the configuration and the sandbox see it.

It has no callbacks, and no stand-in of its own: the WeCom stand-in serves the
robot webhook too (``key="wecom"``).
"""

from __future__ import annotations

from ..descriptor import ProviderDescriptor, StandinSpec
from ..wecom.standin import WecomStandin
from .adapter import WecomBotAdapter, WecomBotConfig

__all__ = ["PROVIDER"]


PROVIDER: ProviderDescriptor[WecomBotConfig] = ProviderDescriptor(
    adapter=WecomBotAdapter,
    config_type=WecomBotConfig,
    standin=StandinSpec(key="wecom", env=WecomStandin.bot_env),
)
