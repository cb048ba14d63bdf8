"""Local stand-ins for every provider, for tests and the sandbox mode.

``start_standins()`` starts them on free loopback ports; ``Standins.env()``
gives the ``HUB_*`` settings that point every provider at them. Which servers
exist, their settings and their callback targets come from each provider's
descriptor (``StandinSpec``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from ..config import AdaptersConfig, load_config
from ..core.faults import FAULT_KINDS, FaultKind, Faults
from ..core.standin import StandinServer
from ..providers import DESCRIPTORS
from ..providers.aliyun_sms.standin import AliyunStandin
from ..providers.tencent_sms.standin import TencentStandin
from ..providers.wechat_oa.standin import WechatStandin
from ..providers.wecom.standin import WecomStandin

__all__ = [
    "FAULT_KINDS",
    "AliyunStandin",
    "FaultKind",
    "Faults",
    "Standins",
    "TencentStandin",
    "WechatStandin",
    "WecomStandin",
    "start_standins",
]

S = TypeVar("S", bound=StandinServer)


class Standins:
    """The running stand-ins (by their ``StandinSpec.key``), their endpoints and the
    credentials they accept."""

    def __init__(self, servers: Mapping[str, StandinServer]) -> None:
        self._servers = dict(servers)

    def server(self, key: str) -> StandinServer:
        """The stand-in named ``key`` (``aliyun``, ``tencent``, ``wecom``, ``wechat``)."""
        return self._servers[key]

    def _typed(self, key: str, kind: type[S]) -> S:
        server = self._servers[key]
        assert isinstance(server, kind)
        return server

    @property
    def aliyun(self) -> AliyunStandin:
        return self._typed("aliyun", AliyunStandin)

    @property
    def tencent(self) -> TencentStandin:
        return self._typed("tencent", TencentStandin)

    @property
    def wecom(self) -> WecomStandin:
        return self._typed("wecom", WecomStandin)

    @property
    def wechat(self) -> WechatStandin:
        return self._typed("wechat", WechatStandin)

    def servers(self) -> list[StandinServer]:
        return list(self._servers.values())

    def endpoints(self) -> dict[str, str]:
        """Base URL per provider name (``wecom`` and ``wecom-bot`` share one server)."""
        return {
            d.name: self._servers[d.standin.key].base_url
            for d in DESCRIPTORS
            if d.standin is not None
        }

    def env(self) -> dict[str, str]:
        """``HUB_*`` settings that configure every provider against the stand-ins."""
        env: dict[str, str] = {}
        for d in DESCRIPTORS:
            if d.standin is not None:
                env.update(d.standin.env(self._servers[d.standin.key]))
        return env

    def config(self) -> AdaptersConfig:
        return load_config(self.env())

    def send_reports_to(self, callbacks_base: str) -> None:
        """Push delivery reports and SMS replies to the hub's callback routes under
        ``callbacks_base`` (the hub's URL + its ``HUB_CALLBACK_PREFIX``)."""
        base = callbacks_base.rstrip("/")
        for d in DESCRIPTORS:
            if d.standin is not None:
                for attribute, path in d.standin.report_urls.items():
                    setattr(self._servers[d.standin.key], attribute, base + path)

    def auto_reply(self, answer: Callable[[str], str | None] | None) -> None:
        """Let both SMS stand-ins answer each SMS with ``answer(text)`` (None: no reply)."""
        for d in DESCRIPTORS:
            if d.standin is not None and d.standin.auto_reply:
                self._servers[d.standin.key].auto_reply = answer  # type: ignore[attr-defined]

    async def wait_pushes(self) -> None:
        for server in self.servers():
            await server.wait_pushes()

    async def close(self) -> None:
        for server in self.servers():
            await server.close()


async def start_standins(
    host: str = "127.0.0.1", *, wall: Callable[[], float] = time.time
) -> Standins:
    """Start all stand-ins on free ports of ``host``; ``close()`` stops them."""
    standins = Standins(
        {
            d.standin.key: d.standin.start(wall)
            for d in DESCRIPTORS
            if d.standin is not None and d.standin.start is not None
        }
    )
    started: list[StandinServer] = []
    try:
        for server in standins.servers():
            await server.start(host)
            started.append(server)
    except BaseException:
        for server in started:
            await server.close()
        raise
    return standins
