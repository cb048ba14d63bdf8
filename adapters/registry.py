"""Build the configured adapters, keyed by provider name, plus the SMS failover group."""

from __future__ import annotations

from .config import AdaptersConfig
from .core.failover import FailoverAdapter
from .core.runtime import Runtime
from .log import LogAdapter
from .providers import DESCRIPTORS
from .types import Adapter

__all__ = ["CALLBACK_PROVIDERS", "PROVIDERS", "SMS_GROUP", "aclose_all", "build_adapters"]

PROVIDERS = tuple(d.name for d in DESCRIPTORS)
# providers that push delivery reports or replies (WeChat only with its callback Token)
CALLBACK_PROVIDERS = tuple(d.name for d in DESCRIPTORS if d.callback_routes is not None)
SMS_GROUP = "sms"


def build_adapters(config: AdaptersConfig, runtime: Runtime | None = None) -> dict[str, Adapter]:
    """One adapter per configured provider, ``log`` always, and ``sms`` when any SMS
    provider is configured: a failover group in ``DESCRIPTORS`` order (Alibaba first,
    then Tencent)."""
    adapters: dict[str, Adapter] = {"log": LogAdapter()}
    sms: list[Adapter] = []
    for provider in DESCRIPTORS:
        settings = config.get(provider.name)
        if settings is None:
            continue
        adapter = provider.make_adapter(settings, runtime)
        adapters[provider.name] = adapter
        if provider.kind == "sms":
            sms.append(adapter)
    if sms:
        adapters[SMS_GROUP] = FailoverAdapter(SMS_GROUP, sms)
    return adapters


async def aclose_all(adapters: dict[str, Adapter]) -> None:
    """Close every adapter once (group members are closed through their own key)."""
    for name, adapter in adapters.items():
        if name != SMS_GROUP:
            await adapter.aclose()
