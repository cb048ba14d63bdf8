"""Tencent Cloud SMS as the registry, the configuration and the sandbox see it."""

from __future__ import annotations

from ..descriptor import ProviderDescriptor, StandinSpec
from .adapter import TencentSmsAdapter, TencentSmsConfig
from .callbacks import REPLY_PATH, STATUS_PATH, routes
from .standin import TencentStandin

__all__ = ["PROVIDER"]


PROVIDER: ProviderDescriptor[TencentSmsConfig] = ProviderDescriptor(
    adapter=TencentSmsAdapter,
    config_type=TencentSmsConfig,
    callback_routes=routes,
    standin=StandinSpec(
        key="tencent",
        start=lambda wall: TencentStandin(wall=wall),
        env=TencentStandin.env,
        report_urls={"report_url": STATUS_PATH, "reply_url": REPLY_PATH},
        auto_reply=True,
    ),
)
