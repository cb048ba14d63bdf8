"""Provider configuration from the environment or a config-file mapping.

Each provider has one family of names, ``HUB_<FAMILY>_<FIELD>``; the same
names lower-cased without ``HUB_`` are the config-file keys. The environment
wins over the file. A provider is configured when any of its non-endpoint
values is set; then all its required values must be set.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from yarl import URL

from .errors import ConfigurationError
from .limits import LIMITS
from .masking import Secret

__all__ = [
    "DEFAULT_ENDPOINTS",
    "AdaptersConfig",
    "AliyunSmsConfig",
    "CallbacksConfig",
    "TencentSmsConfig",
    "WechatConfig",
    "WecomBotConfig",
    "WecomConfig",
    "check_endpoint",
    "load_config",
]

DEFAULT_ENDPOINTS: Final[Mapping[str, str]] = {
    "aliyun-sms": "https://dysmsapi.aliyuncs.com",
    "tencent-sms": "https://sms.tencentcloudapi.com",
    "wecom": "https://qyapi.weixin.qq.com",
    "wecom-bot": "https://qyapi.weixin.qq.com",
    "wechat": "https://api.weixin.qq.com",
}


@dataclass(frozen=True)
class AliyunSmsConfig:
    access_key_id: str
    access_key_secret: Secret
    sign_name: str
    template_code: str
    endpoint: str = DEFAULT_ENDPOINTS["aliyun-sms"]
    param_max_chars: int = LIMITS["aliyun-sms"]["param"].limit


@dataclass(frozen=True)
class TencentSmsConfig:
    secret_id: str
    secret_key: Secret
    sdk_app_id: str
    sign_name: str
    template_id: str
    region: str = "ap-guangzhou"
    endpoint: str = DEFAULT_ENDPOINTS["tencent-sms"]
    param_max_chars: int = LIMITS["tencent-sms"]["param"].limit


@dataclass(frozen=True)
class WecomConfig:
    corp_id: str
    corp_secret: Secret
    agent_id: int
    endpoint: str = DEFAULT_ENDPOINTS["wecom"]


@dataclass(frozen=True)
class WecomBotConfig:
    key: Secret
    endpoint: str = DEFAULT_ENDPOINTS["wecom-bot"]


@dataclass(frozen=True)
class WechatConfig:
    app_id: str
    app_secret: Secret
    template_id: str
    endpoint: str = DEFAULT_ENDPOINTS["wechat"]
    callback_token: Secret | None = field(default=None)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class CallbacksConfig:
    """Where the provider callbacks are mounted and who may call them.

    ``prefix`` (``HUB_CALLBACK_PREFIX``): the secret path the callback routes live
    under, e.g. ``/callbacks/Zx8…``; None: no callback routes at all. ``allow``
    (``HUB_CALLBACK_ALLOW``): the source networks accepted (empty: any).
    ``trusted_proxies`` (``HUB_CALLBACK_TRUSTED_PROXIES``): peers whose
    ``X-Forwarded-For`` is believed; from anyone else the header is ignored.
    """

    prefix: Secret | None = None
    allow: tuple[Network, ...] = ()
    trusted_proxies: tuple[Network, ...] = ()


@dataclass(frozen=True)
class AdaptersConfig:
    aliyun_sms: AliyunSmsConfig | None = None
    tencent_sms: TencentSmsConfig | None = None
    wecom: WecomConfig | None = None
    wecom_bot: WecomBotConfig | None = None
    wechat: WechatConfig | None = None
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)

    def configured(self) -> list[str]:
        """Provider names that are configured, in failover order."""
        pairs = [
            ("aliyun-sms", self.aliyun_sms),
            ("tencent-sms", self.tencent_sms),
            ("wecom", self.wecom),
            ("wecom-bot", self.wecom_bot),
            ("wechat", self.wechat),
        ]
        return [name for name, value in pairs if value is not None]


# family → (field, required, secret); ENDPOINT is implicit and optional everywhere.
_FAMILIES: Final[Mapping[str, tuple[tuple[str, bool, bool], ...]]] = {
    "ALIYUN_SMS": (
        ("ACCESS_KEY_ID", True, False),
        ("ACCESS_KEY_SECRET", True, True),
        ("SIGN_NAME", True, False),
        ("TEMPLATE_CODE", True, False),
        ("PARAM_MAX_CHARS", False, False),
    ),
    "TENCENT_SMS": (
        ("SECRET_ID", True, False),
        ("SECRET_KEY", True, True),
        ("SDK_APP_ID", True, False),
        ("SIGN_NAME", True, False),
        ("TEMPLATE_ID", True, False),
        ("REGION", False, False),
        ("PARAM_MAX_CHARS", False, False),
    ),
    "WECOM": (("CORP_ID", True, False), ("CORP_SECRET", True, True), ("AGENT_ID", True, False)),
    "WECOM_BOT": (("KEY", True, True),),
    "WECHAT": (
        ("APP_ID", True, False),
        ("APP_SECRET", True, True),
        ("TEMPLATE_ID", True, False),
        ("CALLBACK_TOKEN", False, True),
    ),
}
_PROVIDER_OF: Final = {
    "ALIYUN_SMS": "aliyun-sms",
    "TENCENT_SMS": "tencent-sms",
    "WECOM": "wecom",
    "WECOM_BOT": "wecom-bot",
    "WECHAT": "wechat",
}


def check_endpoint(provider: str, value: str, env_name: str) -> str:
    """Accept ``https://`` anywhere and ``http://`` only for loopback hosts."""
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"{env_name} must be an http(s) URL, got {value!r}", provider=provider, code="endpoint"
        )
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ConfigurationError(
            f"{env_name}: plain http:// is accepted only for loopback hosts "
            f"(127.0.0.1, ::1, localhost); use https:// for {url.host}",
            provider=provider,
            code="endpoint",
        )
    return str(url).rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _lookup(env: Mapping[str, str], file_values: Mapping[str, object], name: str) -> str | None:
    value = env.get(name)
    if value is None or value == "":
        raw = file_values.get(name.removeprefix("HUB_").lower())
        value = None if raw is None else str(raw)
    value = value.strip() if value is not None else None
    return value or None


def _int(provider: str, name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(
            f"{name} must be an integer, got {value!r}", provider=provider, code="not_integer"
        ) from None


def _family(
    family: str, env: Mapping[str, str], file_values: Mapping[str, object]
) -> dict[str, str | Secret] | None:
    provider = _PROVIDER_OF[family]
    values: dict[str, str | Secret] = {}
    missing: list[str] = []
    for field_name, required, secret in _FAMILIES[family]:
        name = f"HUB_{family}_{field_name}"
        value = _lookup(env, file_values, name)
        if value is None:
            if required:
                missing.append(name)
            continue
        values[field_name.lower()] = Secret(value) if secret else value
    if not values:
        return None
    if missing:
        raise ConfigurationError(
            f"{provider} is partly configured; missing {', '.join(missing)} "
            f"(or config-file keys {', '.join(m.removeprefix('HUB_').lower() for m in missing)})",
            provider=provider,
            code="missing",
        )
    endpoint_name = f"HUB_{family}_ENDPOINT"
    endpoint = _lookup(env, file_values, endpoint_name) or DEFAULT_ENDPOINTS[provider]
    values["endpoint"] = check_endpoint(provider, endpoint, endpoint_name)
    return values


def load_config(
    env: Mapping[str, str], file_values: Mapping[str, object] | None = None
) -> AdaptersConfig:
    """Build the adapters' configuration; raise ``ConfigurationError`` saying what is wrong."""
    files = file_values or {}
    return AdaptersConfig(
        aliyun_sms=_aliyun(_family("ALIYUN_SMS", env, files)),
        tencent_sms=_tencent(_family("TENCENT_SMS", env, files)),
        wecom=_wecom(_family("WECOM", env, files)),
        wecom_bot=_bot(_family("WECOM_BOT", env, files)),
        wechat=_wechat(_family("WECHAT", env, files)),
        callbacks=_callbacks(env, files),
    )


_PREFIX: Final = re.compile(r"(/[A-Za-z0-9._~-]+)+")
_PREFIX_SECRET_CHARS: Final = 16


def _callbacks(env: Mapping[str, str], files: Mapping[str, object]) -> CallbacksConfig:
    prefix = _lookup(env, files, "HUB_CALLBACK_PREFIX")
    if prefix is not None:
        prefix = prefix.rstrip("/")
        last = prefix.rsplit("/", 1)[-1]
        if (
            not _PREFIX.fullmatch(prefix)
            or ".." in prefix
            or len(last) < _PREFIX_SECRET_CHARS
            or "change-me" in prefix.lower()
        ):
            raise ConfigurationError(
                "HUB_CALLBACK_PREFIX must be a path such as /callbacks/<secret> whose last "
                f"segment is a secret of at least {_PREFIX_SECRET_CHARS} characters "
                "(letters, digits, - _ . ~; not the CHANGE-ME placeholder of "
                "deploy/nginx/hub.conf), e.g. /callbacks/ + the output of "
                "'python3 -c \"import secrets; print(secrets.token_urlsafe(24))\"'",
                provider="callbacks",
                code="prefix",
            )
    return CallbacksConfig(
        prefix=Secret(prefix) if prefix else None,
        allow=_networks(env, files, "HUB_CALLBACK_ALLOW"),
        trusted_proxies=_networks(env, files, "HUB_CALLBACK_TRUSTED_PROXIES"),
    )


def _networks(
    env: Mapping[str, str], files: Mapping[str, object], name: str
) -> tuple[Network, ...]:
    raw = _lookup(env, files, name) or ""
    out: list[Network] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigurationError(
                f"{name}: {item!r} is not an IP address or CIDR network (e.g. 203.0.113.0/24)",
                provider="callbacks",
                code="network",
            ) from None
    return tuple(out)


def _s(values: Mapping[str, str | Secret], key: str) -> str:
    value = values[key]
    assert isinstance(value, str)
    return value


def _secret(values: Mapping[str, str | Secret], key: str) -> Secret:
    value = values[key]
    assert isinstance(value, Secret)
    return value


def _aliyun(v: dict[str, str | Secret] | None) -> AliyunSmsConfig | None:
    if v is None:
        return None
    name = "HUB_ALIYUN_SMS_PARAM_MAX_CHARS"
    limit = (
        _int("aliyun-sms", name, _s(v, "param_max_chars"))
        if "param_max_chars" in v
        else LIMITS["aliyun-sms"]["param"].limit
    )
    return AliyunSmsConfig(
        access_key_id=_s(v, "access_key_id"),
        access_key_secret=_secret(v, "access_key_secret"),
        sign_name=_s(v, "sign_name"),
        template_code=_s(v, "template_code"),
        endpoint=_s(v, "endpoint"),
        param_max_chars=limit,
    )


def _tencent(v: dict[str, str | Secret] | None) -> TencentSmsConfig | None:
    if v is None:
        return None
    name = "HUB_TENCENT_SMS_PARAM_MAX_CHARS"
    limit = (
        _int("tencent-sms", name, _s(v, "param_max_chars"))
        if "param_max_chars" in v
        else LIMITS["tencent-sms"]["param"].limit
    )
    return TencentSmsConfig(
        secret_id=_s(v, "secret_id"),
        secret_key=_secret(v, "secret_key"),
        sdk_app_id=_s(v, "sdk_app_id"),
        sign_name=_s(v, "sign_name"),
        template_id=_s(v, "template_id"),
        region=_s(v, "region") if "region" in v else "ap-guangzhou",
        endpoint=_s(v, "endpoint"),
        param_max_chars=limit,
    )


def _wecom(v: dict[str, str | Secret] | None) -> WecomConfig | None:
    if v is None:
        return None
    return WecomConfig(
        corp_id=_s(v, "corp_id"),
        corp_secret=_secret(v, "corp_secret"),
        agent_id=_int("wecom", "HUB_WECOM_AGENT_ID", _s(v, "agent_id")),
        endpoint=_s(v, "endpoint"),
    )


def _bot(v: dict[str, str | Secret] | None) -> WecomBotConfig | None:
    if v is None:
        return None
    return WecomBotConfig(key=_secret(v, "key"), endpoint=_s(v, "endpoint"))


def _wechat(v: dict[str, str | Secret] | None) -> WechatConfig | None:
    if v is None:
        return None
    token = v.get("callback_token")
    return WechatConfig(
        app_id=_s(v, "app_id"),
        app_secret=_secret(v, "app_secret"),
        template_id=_s(v, "template_id"),
        endpoint=_s(v, "endpoint"),
        callback_token=token if isinstance(token, Secret) else None,
    )
