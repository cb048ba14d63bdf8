"""The domain layer as an engine extension: what it registers on the runtime."""

from __future__ import annotations

import logging

from hub.bootstrap import Runtime
from hub.config import Settings

__all__ = ["DomainExtension"]

log = logging.getLogger("channels")

DEMO_MEMBERS = ("demo-1", "demo-2")
DEMO_ROOM = "chat:lobby"


class DomainExtension:
    def __init__(self, settings: Settings, *, demo: bool = False) -> None:
        self.settings = settings
        self.demo = demo

    def install(self, runtime: Runtime) -> None:
        return None

    async def start(self, runtime: Runtime) -> None:
        if self.demo:
            self._print_demo(runtime)

    async def stop(self, runtime: Runtime) -> None:
        return None

    def _print_demo(self, runtime: Runtime) -> None:
        host, port = self.settings.host, runtime.port
        grant = [{"channel": DEMO_ROOM, "publish": True}]
        lines = [
            "",
            "=== Tongzhi demo ===",
            f"WebSocket: ws://{host}:{port}/ws    API: http://{host}:{port}/api/",
        ]
        for member in DEMO_MEMBERS:
            token = runtime.verifier.mint(member, channels=grant, name=member)
            lines.append(f"token for {member}: {token}")
        lines += [
            "Try it (two terminals):",
            f"  .venv/bin/python -m hub.client --url ws://{host}:{port}/ws --token <token> "
            f"subscribe {DEMO_ROOM}",
            f"  .venv/bin/python -m hub.client --url ws://{host}:{port}/ws --token <token> "
            f'publish {DEMO_ROOM} \'{{"text": "你好"}}\'',
            "",
        ]
        print("\n".join(lines), flush=True)
