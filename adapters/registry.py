"""Build the configured adapters, keyed by provider name, plus the SMS failover group."""

from __future__ import annotations

from .config import AdaptersConfig
from .core.failover import FailoverAdapter
from .core.runtime import Runtime
from .log import LogAdapter
from .providers.aliyun_sms.adapter import AliyunSmsAdapter
from .providers.tencent_sms.adapter import TencentSmsAdapter
from .providers.wechat_oa.adapter import OfficialAccountAdapter
from .providers.wecom.adapter import WecomAdapter
from .providers.wecom_bot.adapter import WecomBotAdapter
from .types import Adapter

__all__ = ["PROVIDERS", "SMS_GROUP", "aclose_all", "build_adapters"]

PROVIDERS = ("aliyun-sms", "tencent-sms", "wecom", "wecom-bot", "wechat")
SMS_GROUP = "sms"


def build_adapters(config: AdaptersConfig, runtime: Runtime | None = None) -> dict[str, Adapter]:
    """One adapter per configured provider, ``log`` always, and ``sms`` when any SMS
    provider is configured: a failover group, Alibaba first then Tencent."""
    adapters: dict[str, Adapter] = {"log": LogAdapter()}
    sms: list[Adapter] = []
    if config.aliyun_sms is not None:
        aliyun = AliyunSmsAdapter(config.aliyun_sms, runtime)
        adapters[aliyun.name] = aliyun
        sms.append(aliyun)
    if config.tencent_sms is not None:
        tencent = TencentSmsAdapter(config.tencent_sms, runtime)
        adapters[tencent.name] = tencent
        sms.append(tencent)
    if config.wecom is not None:
        adapters["wecom"] = WecomAdapter(config.wecom, runtime)
    if config.wecom_bot is not None:
        adapters["wecom-bot"] = WecomBotAdapter(config.wecom_bot, runtime)
    if config.wechat is not None:
        adapters["wechat"] = OfficialAccountAdapter(config.wechat, runtime)
    if sms:
        adapters[SMS_GROUP] = FailoverAdapter(SMS_GROUP, sms)
    return adapters


async def aclose_all(adapters: dict[str, Adapter]) -> None:
    """Close every adapter once (group members are closed through their own key)."""
    for name, adapter in adapters.items():
        if name != SMS_GROUP:
            await adapter.aclose()
