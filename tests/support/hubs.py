"""Real hubs for tests: in-process (same event loop) or as a subprocess (`hub serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from hub.bootstrap import Extension, Runtime
from hub.config import Settings, load_settings

__all__ = [
    "HubProcess",
    "InProcessHub",
    "free_port",
    "hub_settings",
    "mint",
    "running_hub",
    "wait_until",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mint(secret: str, sub: str, **claims: Any) -> str:
    return jwt.encode({"sub": sub, **claims}, secret, algorithm="HS256")


async def wait_until(
    predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01, what: str = ""
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(interval)


@dataclass
class InProcessHub:
    runtime: Runtime
    secret: str
    api_key: str

    @property
    def port(self) -> int:
        return self.runtime.port

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, sub: str, **claims: Any) -> str:
        return mint(self.secret, sub, **claims)

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def api(self, method: str, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, self.http_url + path, json=json, headers=self.api_headers, **kw) as r,
        ):
            body = await r.json(content_type=None)
            return r.status, body


def hub_settings(data_dir: Path, **overrides: Any) -> Settings:
    env = {
        "HUB_HOST": "127.0.0.1",
        "HUB_PORT": "0",
        "HUB_DATA_DIR": str(data_dir),
        "HUB_TOKEN_SECRET": "test-secret-" + secrets.token_hex(16),
        "HUB_API_KEY": "test-key-" + secrets.token_hex(8),
    }
    env.update({("HUB_" + k.upper()): str(v) for k, v in overrides.items()})
    settings = load_settings(None, env)
    return settings


@contextlib.asynccontextmanager
async def running_hub(
    data_dir: Path, extensions: Sequence[Extension] = (), **overrides: Any
) -> AsyncIterator[InProcessHub]:
    """A hub in this event loop on a free port; stopped cleanly at exit."""
    settings = hub_settings(data_dir, **overrides)
    runtime = Runtime(settings, extensions)
    await runtime.start()
    try:
        yield InProcessHub(runtime, settings.token_secret, settings.api_key)
    finally:
        await runtime.stop()


@dataclass
class HubProcess:
    """``hub serve`` in a subprocess, for restart, SIGTERM and SIGKILL tests."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    args: Sequence[str] = ()
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    secret: str = field(default_factory=lambda: "test-secret-" + secrets.token_hex(16))
    api_key: str = field(default_factory=lambda: "test-key-" + secrets.token_hex(8))
    log_path: Path | None = None
    preexec: Callable[[], None] | None = None  # run in the child before exec (e.g. setrlimit)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, sub: str, **claims: Any) -> str:
        return mint(self.secret, sub, **claims)

    def start(self, timeout: float = 20.0) -> None:
        if not self.port:
            self.port = free_port()
        env = dict(os.environ)
        env.update(
            {
                "HUB_HOST": "127.0.0.1",
                "HUB_PORT": str(self.port),
                "HUB_DATA_DIR": str(self.data_dir),
                "HUB_TOKEN_SECRET": self.secret,
                "HUB_API_KEY": self.api_key,
            }
        )
        env.update(self.env)
        self.log_path = self.data_dir.parent / f"hub-{self.port}-{int(time.time() * 1000)}.log"
        with open(self.log_path, "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "channels.cli", "serve", *self.args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=self.preexec,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited early:\n{self.log()}")
            if "hub ready" in self.log():
                return
            time.sleep(0.05)
        raise RuntimeError(f"hub did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
