"""The Official Account as the registry, the configuration and the sandbox see it."""

from __future__ import annotations

from ...limits import LIMITS
from ..descriptor import ProviderDescriptor, StandinSpec
from .adapter import PROVIDER as NAME
from .adapter import OfficialAccountAdapter
from .callbacks import EVENTS_PATH, routes
from .config import DEFAULT_ENDPOINT, WechatConfig
from .standin import WechatStandin

__all__ = ["PROVIDER"]


def _env(s: WechatStandin) -> dict[str, str]:
    return {
        "HUB_WECHAT_APP_ID": s.app_id,
        "HUB_WECHAT_APP_SECRET": s.app_secret,
        "HUB_WECHAT_TEMPLATE_ID": s.template_id,
        "HUB_WECHAT_CALLBACK_TOKEN": s.callback_token,
        "HUB_WECHAT_ENDPOINT": s.base_url,
    }


PROVIDER: ProviderDescriptor[WechatConfig] = ProviderDescriptor(
    name=NAME,
    kind="wechat",
    family="WECHAT",
    config_type=WechatConfig,
    default_endpoint=DEFAULT_ENDPOINT,
    make_adapter=OfficialAccountAdapter,
    limits=LIMITS[NAME],
    callback_routes=routes,
    standin=StandinSpec(
        key="wechat",
        start=lambda wall: WechatStandin(wall=wall),
        env=_env,
        report_urls={"event_url": EVENTS_PATH},
    ),
)
