"""Alibaba Cloud SMS as the registry, the configuration and the sandbox see it."""

from __future__ import annotations

from ...limits import LIMITS
from ..descriptor import ProviderDescriptor, StandinSpec
from .adapter import AliyunSmsAdapter
from .callbacks import REPORT_PATH, UPLINK_PATH, routes
from .config import DEFAULT_ENDPOINT, AliyunSmsConfig
from .errors import PROVIDER as NAME
from .standin import AliyunStandin

__all__ = ["PROVIDER"]


def _env(s: AliyunStandin) -> dict[str, str]:
    return {
        "HUB_ALIYUN_SMS_ACCESS_KEY_ID": s.access_key_id,
        "HUB_ALIYUN_SMS_ACCESS_KEY_SECRET": s.access_key_secret,
        "HUB_ALIYUN_SMS_SIGN_NAME": s.sign_name,
        "HUB_ALIYUN_SMS_TEMPLATE_CODE": s.template_code,
        "HUB_ALIYUN_SMS_ENDPOINT": s.base_url,
        "HUB_ALIYUN_SMS_PARAM_MAX_CHARS": str(s.param_max_chars),
    }


PROVIDER: ProviderDescriptor[AliyunSmsConfig] = ProviderDescriptor(
    name=NAME,
    kind="sms",
    family="ALIYUN_SMS",
    config_type=AliyunSmsConfig,
    default_endpoint=DEFAULT_ENDPOINT,
    make_adapter=AliyunSmsAdapter,
    limits=LIMITS[NAME],
    callback_routes=routes,
    standin=StandinSpec(
        key="aliyun",
        start=lambda wall: AliyunStandin(wall=wall),
        env=_env,
        report_urls={"report_url": REPORT_PATH, "uplink_url": UPLINK_PATH},
        auto_reply=True,
    ),
)
