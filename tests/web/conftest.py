"""Browser tests of the page: a real hub (``hub serve --demo`` in a subprocess) and
Debian's Chromium driven by Playwright for Python (no browser download).

Every test gets its own hub (the demo organization, a fresh store), a shared
browser, and a fresh context per person; when a test fails each of its pages
is saved as a screenshot under ``test-output/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.hubs import HubProcess, free_port

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}

if not shutil.which(CHROMIUM):
    pytest.skip(
        f"{CHROMIUM} is missing: run `make system-deps` (installs chromium)",
        allow_module_level=True,
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.fixture(autouse=True)
def _close_ws_clients() -> None:
    """Replaces the suite's async autouse fixture: the browser tests use no asyncio
    loop of their own (Playwright's sync API runs one, which asyncio fixtures would
    collide with), and open no Python WebSocket clients."""


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


class Hub:
    """The hub under test with helpers for the server API and tokens."""

    def __init__(self, proc: HubProcess) -> None:
        self.proc = proc
        self.url = proc.http_url

    def token(self, member: str, *, admin: bool = False, **claims: Any) -> str:
        if admin:
            claims["role"] = "admin"
        return self.proc.token(member, **claims)

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.proc.api_key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def publish(self, channel: str, data: Any) -> int:
        return int(self.api("POST", "/api/publish", {"channel": channel, "data": data})["offset"])


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    proc = HubProcess(tmp_path / "data", args=["--demo"])
    proc.start()
    try:
        yield Hub(proc)
    finally:
        proc.stop()


class People:
    """Browser contexts (one per person) of one test; screenshots on failure."""

    def __init__(self, browser: Any, request: pytest.FixtureRequest) -> None:
        self.browser = browser
        self.request = request
        self.contexts: list[Any] = []
        self.pages: list[tuple[str, Any]] = []
        self.errors: list[str] = []  # uncaught errors in the pages' scripts

    def open(self, url: str, *, who: str = "page", phone: bool = False, **kw: Any) -> Any:
        ctx = self.browser.new_context(
            viewport=PHONE if phone else DESKTOP, locale="zh-CN", accept_downloads=True, **kw
        )
        ctx.set_default_timeout(10_000)
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"{who}: {e}"))
        page.goto(url)
        self.pages.append((who, page))
        return page

    def close(self) -> None:
        reports = self.request.node.stash.get(_REPORTS, {})
        if any(r.failed for r in reports.values()):
            OUTPUT.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.request.node.name)
            for i, (who, page) in enumerate(self.pages):
                try:
                    page.screenshot(path=str(OUTPUT / f"{name}-{i}-{who}.png"), full_page=True)
                except Exception:  # a closed page cannot be photographed
                    pass
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def people(browser: Any, request: pytest.FixtureRequest) -> Iterator[People]:
    p = People(browser, request)
    try:
        yield p
    finally:
        p.close()


class CuttableProxy:
    """A TCP proxy in front of the hub whose network can be cut (open connections
    closed, new ones refused) and restored."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.port = free_port()
        self.up = True
        self.lock = threading.Lock()
        self.socks: set[socket.socket] = set()
        self.threads: list[threading.Thread] = []
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.stopping = False
        self.listener.settimeout(0.2)
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if not self.up or self.stopping:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.socks.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                t = threading.Thread(target=self._pump, args=(a, b), daemon=True)
                t.start()
                self.threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        self._drop(src, dst)

    def _drop(self, *socks: socket.socket) -> None:
        with self.lock:
            for s in socks:
                if s in self.socks:
                    self.socks.discard(s)
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()

    def cut(self) -> None:
        self.up = False
        with self.lock:
            socks = list(self.socks)
        self._drop(*socks)

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.stopping = True
        self.cut()
        self.listener.close()
        for t in [self.acceptor, *self.threads]:
            t.join(5)


@pytest.fixture
def proxy(hub: Hub) -> Iterator[CuttableProxy]:
    p = CuttableProxy(hub.proc.port)
    try:
        yield p
    finally:
        p.close()
