"""Tencent Cloud SMS as the registry, the configuration and the sandbox see it."""

from __future__ import annotations

from collections.abc import Callable

from ...limits import LIMITS
from ..descriptor import ConfigKey, ProviderDescriptor, StandinSpec
from .adapter import TencentSmsAdapter
from .callbacks import REPLY_PATH, STATUS_PATH, routes
from .config import DEFAULT_ENDPOINT, TencentSmsConfig, from_values
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


def _report_to(s: TencentStandin, base: str) -> None:
    s.report_url = base + STATUS_PATH
    s.reply_url = base + REPLY_PATH


def _auto_reply(s: TencentStandin, answer: Callable[[str], str | None] | None) -> None:
    s.auto_reply = answer


PROVIDER: ProviderDescriptor[TencentSmsConfig] = ProviderDescriptor(
    name=NAME,
    kind="sms",
    family="TENCENT_SMS",
    config_keys=(
        ConfigKey("SECRET_ID"),
        ConfigKey("SECRET_KEY", secret=True),
        ConfigKey("SDK_APP_ID"),
        ConfigKey("SIGN_NAME"),
        ConfigKey("TEMPLATE_ID"),
        ConfigKey("REGION", required=False),
        ConfigKey("PARAM_MAX_CHARS", required=False),
    ),
    default_endpoint=DEFAULT_ENDPOINT,
    make_config=from_values,
    make_adapter=TencentSmsAdapter,
    limits=LIMITS[NAME],
    callback_routes=routes,
    standin=StandinSpec(
        key="tencent",
        start=lambda wall: TencentStandin(wall=wall),
        env=_env,
        report_to=_report_to,
        auto_reply=_auto_reply,
    ),
)
