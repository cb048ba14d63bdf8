"""WeCom application messages as the registry, the configuration and the sandbox see them."""

from __future__ import annotations

from ..descriptor import ProviderDescriptor, StandinSpec
from .adapter import WecomAdapter, WecomConfig
from .standin import WecomStandin

__all__ = ["PROVIDER"]


PROVIDER: ProviderDescriptor[WecomConfig] = ProviderDescriptor(
    adapter=WecomAdapter,
    config_type=WecomConfig,
    standin=StandinSpec(
        key="wecom", start=lambda wall: WecomStandin(wall=wall), env=WecomStandin.env
    ),
)
