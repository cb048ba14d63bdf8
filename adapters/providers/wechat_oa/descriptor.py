"""The Official Account as the registry, the configuration and the sandbox see it."""

from __future__ import annotations

from ..descriptor import ProviderDescriptor, StandinSpec
from .adapter import OfficialAccountAdapter, WechatConfig
from .callbacks import EVENTS_PATH, routes
from .standin import WechatStandin

__all__ = ["PROVIDER"]


PROVIDER: ProviderDescriptor[WechatConfig] = ProviderDescriptor(
    adapter=OfficialAccountAdapter,
    config_type=WechatConfig,
    callback_routes=routes,
    standin=StandinSpec(
        key="wechat",
        start=lambda wall: WechatStandin(wall=wall),
        env=WechatStandin.env,
        report_urls={"event_url": EVENTS_PATH},
    ),
)
