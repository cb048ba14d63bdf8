"""Tencent Cloud SMS as the registry, the configuration and the sandbox see it."""

from __future__ import annotations

from ...limits import LIMITS
from ..descriptor import ProviderDescriptor, StandinSpec
from .adapter import TencentSmsAdapter
from .callbacks import REPLY_PATH, STATUS_PATH, routes
from .config import DEFAULT_ENDPOINT, TencentSmsConfig
from .errors import PROVIDER as NAME
from .standin import TencentStandin

__all__ = ["PROVIDER"]


def _env(s: TencentStandin) -> dict[str, str]:
    return {
        "HUB_TENCENT_SMS_SECRET_ID": s.secret_id,
        "HUB_TENCENT_SMS_SECRET_KEY": s.secret_key,
        "HUB_TENCENT_SMS_SDK_APP_ID": s.sdk_app_id,
        "HUB_TENCENT_SMS_SIGN_NAME": s.sign_name,
        "HUB_TENCENT_SMS_TEMPLATE_ID": s.template_id,
        "HUB_TENCENT_SMS_REGION": "ap-guangzhou",
        "HUB_TENCENT_SMS_ENDPOINT": s.base_url,
        "HUB_TENCENT_SMS_PARAM_MAX_CHARS": str(s.param_max_chars),
    }


PROVIDER: ProviderDescriptor[TencentSmsConfig] = ProviderDescriptor(
    name=NAME,
    kind="sms",
    family="TENCENT_SMS",
    config_type=TencentSmsConfig,
    default_endpoint=DEFAULT_ENDPOINT,
    make_adapter=TencentSmsAdapter,
    limits=LIMITS[NAME],
    callback_routes=routes,
    standin=StandinSpec(
        key="tencent",
        start=lambda wall: TencentStandin(wall=wall),
        env=_env,
        report_urls={"report_url": STATUS_PATH, "reply_url": REPLY_PATH},
        auto_reply=True,
    ),
)
