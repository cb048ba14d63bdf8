"""WeCom application messages as the registry, the configuration and the sandbox see them."""

from __future__ import annotations

from ...limits import LIMITS
from ..descriptor import ProviderDescriptor, StandinSpec
from .adapter import PROVIDER as NAME
from .adapter import WecomAdapter
from .config import DEFAULT_ENDPOINT, WecomConfig
from .standin import WecomStandin

__all__ = ["PROVIDER"]


def _env(s: WecomStandin) -> dict[str, str]:
    return {
        "HUB_WECOM_CORP_ID": s.corp_id,
        "HUB_WECOM_CORP_SECRET": s.corp_secret,
        "HUB_WECOM_AGENT_ID": str(s.agent_id),
        "HUB_WECOM_ENDPOINT": s.base_url,
    }


PROVIDER: ProviderDescriptor[WecomConfig] = ProviderDescriptor(
    name=NAME,
    kind="wechat",
    family="WECOM",
    config_type=WecomConfig,
    default_endpoint=DEFAULT_ENDPOINT,
    make_adapter=WecomAdapter,
    limits=LIMITS[NAME],
    standin=StandinSpec(key="wecom", start=lambda wall: WecomStandin(wall=wall), env=_env),
)
