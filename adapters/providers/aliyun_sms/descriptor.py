"""Alibaba Cloud SMS as the registry, the configuration and the sandbox see it."""

from __future__ import annotations

from ..descriptor import ProviderDescriptor, StandinSpec
from .adapter import AliyunSmsAdapter, AliyunSmsConfig
from .callbacks import REPORT_PATH, UPLINK_PATH, routes
from .standin import AliyunStandin

__all__ = ["PROVIDER"]


PROVIDER: ProviderDescriptor[AliyunSmsConfig] = ProviderDescriptor(
    adapter=AliyunSmsAdapter,
    config_type=AliyunSmsConfig,
    callback_routes=routes,
    standin=StandinSpec(
        key="aliyun",
        start=lambda wall: AliyunStandin(wall=wall),
        env=AliyunStandin.env,
        report_urls={"report_url": REPORT_PATH, "uplink_url": UPLINK_PATH},
        auto_reply=True,
    ),
)
