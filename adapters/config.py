"""Provider configuration from the environment or a config-file mapping.

Each provider has one family of names, ``HUB_<FAMILY>_<FIELD>`` (its
descriptor's ``family`` and ``config_keys``); the same names lower-cased without
``HUB_`` are the config-file keys. The environment wins over the file. A
provider is configured when any of its non-endpoint values is set; then all its
required values must be set.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from yarl import URL

from .errors import ConfigurationError
from .masking import Secret
from .providers import DESCRIPTORS, ProviderDescriptor
from .providers.aliyun_sms.adapter import AliyunSmsConfig
from .providers.tencent_sms.adapter import TencentSmsConfig
from .providers.wechat_oa.adapter import WechatConfig
from .providers.wecom.adapter import WecomConfig
from .providers.wecom_bot.adapter import WecomBotConfig

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

DEFAULT_ENDPOINTS: Final[Mapping[str, str]] = {d.name: d.default_endpoint for d in DESCRIPTORS}

T = TypeVar("T")


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
    """``providers``: the configuration of each configured provider, by name."""

    providers: Mapping[str, object] = field(default_factory=dict)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)

    def configured(self) -> list[str]:
        """Provider names that are configured, in failover order."""
        return [d.name for d in DESCRIPTORS if d.name in self.providers]

    def get(self, name: str) -> object | None:
        """The configuration of provider ``name``, or None when it is not configured."""
        return self.providers.get(name)

    def _typed(self, name: str, kind: type[T]) -> T | None:
        value = self.providers.get(name)
        return value if isinstance(value, kind) else None

    @property
    def aliyun_sms(self) -> AliyunSmsConfig | None:
        return self._typed("aliyun-sms", AliyunSmsConfig)

    @property
    def tencent_sms(self) -> TencentSmsConfig | None:
        return self._typed("tencent-sms", TencentSmsConfig)

    @property
    def wecom(self) -> WecomConfig | None:
        return self._typed("wecom", WecomConfig)

    @property
    def wecom_bot(self) -> WecomBotConfig | None:
        return self._typed("wecom-bot", WecomBotConfig)

    @property
    def wechat(self) -> WechatConfig | None:
        return self._typed("wechat", WechatConfig)


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


def _family(
    provider: ProviderDescriptor[Any], env: Mapping[str, str], file_values: Mapping[str, object]
) -> dict[str, str | Secret] | None:
    values: dict[str, str | Secret] = {}
    missing: list[str] = []
    for key in provider.config_keys:
        name = provider.env_prefix + key.name
        value = _lookup(env, file_values, name)
        if value is None:
            if key.required:
                missing.append(name)
            continue
        values[key.name.lower()] = Secret(value) if key.secret else value
    if not values:
        return None
    if missing:
        raise ConfigurationError(
            f"{provider.name} is partly configured; missing {', '.join(missing)} "
            f"(or config-file keys {', '.join(m.removeprefix('HUB_').lower() for m in missing)})",
            provider=provider.name,
            code="missing",
        )
    endpoint_name = provider.env_prefix + "ENDPOINT"
    endpoint = _lookup(env, file_values, endpoint_name) or provider.default_endpoint
    values["endpoint"] = check_endpoint(provider.name, endpoint, endpoint_name)
    return values


def load_config(
    env: Mapping[str, str], file_values: Mapping[str, object] | None = None
) -> AdaptersConfig:
    """Build the adapters' configuration; raise ``ConfigurationError`` saying what is wrong."""
    files = file_values or {}
    providers: dict[str, object] = {}
    for provider in DESCRIPTORS:
        values = _family(provider, env, files)
        if values is not None:
            providers[provider.name] = provider.make_config(values)
    return AdaptersConfig(providers=providers, callbacks=_callbacks(env, files))


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
