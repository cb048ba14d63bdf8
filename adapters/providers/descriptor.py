"""What the registry, the configuration loader, the callback routes and the stand-ins
need to know of one provider: its ``ProviderDescriptor``.

Each provider folder ends in a ``descriptor.py`` with one ``PROVIDER`` value;
``adapters.providers.DESCRIPTORS`` lists them in failover order. Nothing outside
the provider folder names a provider's classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from ..core.callbacks import CallbackRoute, Sink
from ..core.runtime import Runtime
from ..core.settings import Setting, Values, build, default_endpoint, settings_of
from ..core.standin import StandinServer
from ..limits import LIMITS, FieldLimit
from ..types import Adapter

__all__ = ["AdapterClass", "CallbackRoute", "ProviderDescriptor", "Setting", "StandinSpec"]

C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)
S = TypeVar("S", bound=StandinServer)


class AdapterClass(Protocol[C_contra]):
    """A provider adapter class: its name and kind, and a constructor taking the config."""

    provider_name: str
    adapter_kind: Literal["sms", "wechat", "log"]

    def __call__(self, config: C_contra, runtime: Runtime | None = None) -> Adapter: ...


@dataclass(frozen=True)
class StandinSpec(Generic[S]):
    """How the sandbox runs this provider's stand-in.

    ``key`` names the server (``Standins.server(key)``); providers that share one
    server (WeCom app and robot) give the same key and only one gives ``start``.
    ``env`` gives the ``HUB_*`` settings pointing the provider at the server;
    ``report_urls`` maps the server's push-target attributes to the callback
    paths they are set to (under the hub's callback base URL); ``auto_reply``:
    the server has an ``auto_reply`` attribute (a simulated member's answer).
    """

    key: str
    env: Callable[[S], dict[str, str]]
    start: Callable[[Callable[[], float]], S] | None = None
    report_urls: Mapping[str, str] = field(default_factory=dict)
    auto_reply: bool = False


@dataclass(frozen=True)
class ProviderDescriptor(Generic[C]):
    """One provider: its name, kind, settings, adapter, callbacks, stand-in and limits.

    ``config_type``: the configuration dataclass; its fields are the settings
    (see ``adapters.core.settings``), its ``endpoint`` default the default endpoint;
    ``callback_routes(sink, secret)`` gives the routes its callbacks arrive on
    (``secret``: the provider's callback secret, e.g. the WeChat Token, or None)."""

    adapter: AdapterClass[C]
    config_type: type[C]
    callback_routes: Callable[[Sink, str | None], Sequence[CallbackRoute]] | None = None
    standin: StandinSpec[Any] | None = None

    @property
    def name(self) -> str:
        """The provider name, e.g. ``aliyun-sms`` (the adapter's ``provider_name``)."""
        return self.adapter.provider_name

    @property
    def kind(self) -> Literal["sms", "wechat", "log"]:
        """``sms`` or ``wechat``: providers of one kind can replace each other."""
        return self.adapter.adapter_kind

    def make_adapter(self, config: C, runtime: Runtime | None = None) -> Adapter:
        return self.adapter(config, runtime)

    @property
    def family(self) -> str:
        """The settings family: the name upper-cased, ``-`` → ``_`` (``ALIYUN_SMS``)."""
        return self.name.upper().replace("-", "_")

    @property
    def env_prefix(self) -> str:
        return f"HUB_{self.family}_"

    @property
    def default_endpoint(self) -> str:
        """The default of the config dataclass's ``endpoint`` field."""
        return default_endpoint(self.config_type)

    @property
    def limits(self) -> Mapping[str, FieldLimit]:
        """The provider's field limits (``adapters.limits.LIMITS``)."""
        return LIMITS[self.name]

    @property
    def config_keys(self) -> tuple[Setting, ...]:
        """The ``HUB_<FAMILY>_*`` settings (``ENDPOINT`` is implicit)."""
        return settings_of(self.config_type)

    def make_config(self, values: Values) -> C:
        """The configuration dataclass from the collected values."""
        return build(self.config_type, self.name, self.env_prefix, values)
