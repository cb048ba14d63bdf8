"""What the registry, the configuration loader, the callback routes and the stand-ins
need to know of one provider: its ``ProviderDescriptor``.

Each provider folder ends in a ``descriptor.py`` with one ``PROVIDER`` value;
``adapters.providers.DESCRIPTORS`` lists them in failover order. Nothing outside
the provider folder names a provider's classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from ..core.callbacks import CallbackRoute, Sink
from ..core.runtime import Runtime
from ..core.settings import Setting, Values, build, settings_of
from ..core.standin import StandinServer
from ..limits import FieldLimit
from ..types import Adapter

__all__ = ["CallbackRoute", "ProviderDescriptor", "Setting", "StandinSpec"]

C = TypeVar("C")
S = TypeVar("S", bound=StandinServer)


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
    (see ``adapters.core.settings``);
    ``callback_routes(sink, secret)`` gives the routes its callbacks arrive on
    (``secret``: the provider's callback secret, e.g. the WeChat Token, or None)."""

    name: str
    kind: Literal["sms", "wechat"]
    family: str
    config_type: type[C]
    default_endpoint: str
    make_adapter: Callable[[C, Runtime | None], Adapter]
    limits: Mapping[str, FieldLimit]
    callback_routes: Callable[[Sink, str | None], Sequence[CallbackRoute]] | None = None
    standin: StandinSpec[Any] | None = None

    @property
    def env_prefix(self) -> str:
        return f"HUB_{self.family}_"

    @property
    def config_keys(self) -> tuple[Setting, ...]:
        """The ``HUB_<FAMILY>_*`` settings (``ENDPOINT`` is implicit)."""
        return settings_of(self.config_type)

    def make_config(self, values: Values) -> C:
        """The configuration dataclass from the collected values."""
        return build(self.config_type, self.name, self.env_prefix, values)
