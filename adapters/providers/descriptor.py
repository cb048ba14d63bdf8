"""What the registry, the configuration loader, the callback routes and the stand-ins
need to know of one provider: its ``ProviderDescriptor``.

Each provider folder ends in a ``descriptor.py`` with one ``PROVIDER`` value;
``adapters.providers.DESCRIPTORS`` lists them in failover order. Nothing outside
the provider folder names a provider's classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from ..core.callbacks import CallbackRoute, Sink
from ..core.runtime import Runtime
from ..core.settings import Values
from ..core.standin import StandinServer
from ..limits import FieldLimit
from ..types import Adapter

__all__ = ["CallbackRoute", "ConfigKey", "ProviderDescriptor", "StandinSpec"]

C = TypeVar("C")
S = TypeVar("S", bound=StandinServer)


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One setting ``HUB_<FAMILY>_<name>`` (config-file key: the same, lower-cased,
    without ``HUB_``). ``ENDPOINT`` is implicit and optional for every provider."""

    name: str
    required: bool = True
    secret: bool = False


@dataclass(frozen=True)
class StandinSpec(Generic[S]):
    """How the sandbox runs this provider's stand-in.

    ``key`` names the server (``Standins.server(key)``); providers that share one
    server (WeCom app and robot) give the same key and only one gives ``start``.
    ``env`` gives the ``HUB_*`` settings pointing the provider at the server;
    ``report_to`` tells the server where to push callbacks (the hub's callback
    base URL); ``auto_reply`` installs a simulated member's answer (SMS only).
    """

    key: str
    env: Callable[[S], dict[str, str]]
    start: Callable[[Callable[[], float]], S] | None = None
    report_to: Callable[[S, str], None] | None = None
    auto_reply: Callable[[S, Callable[[str], str | None] | None], None] | None = None


@dataclass(frozen=True)
class ProviderDescriptor(Generic[C]):
    """One provider: its name, kind, settings, adapter, callbacks, stand-in and limits.

    ``make_config`` turns the collected values into the config dataclass;
    ``callback_routes(sink, secret)`` gives the routes its callbacks arrive on
    (``secret``: the provider's callback secret, e.g. the WeChat Token, or None)."""

    name: str
    kind: Literal["sms", "wechat"]
    family: str
    config_keys: tuple[ConfigKey, ...]
    default_endpoint: str
    make_config: Callable[[Values], C]
    make_adapter: Callable[[C, Runtime | None], Adapter]
    limits: Mapping[str, FieldLimit]
    callback_routes: Callable[[Sink, str | None], Sequence[CallbackRoute]] | None = None
    standin: StandinSpec[Any] | None = None

    @property
    def env_prefix(self) -> str:
        return f"HUB_{self.family}_"
