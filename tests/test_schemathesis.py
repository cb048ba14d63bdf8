"""Route defects found by a contract run against ``hub serve``, pinned with plain HTTP."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.console import Served

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "openapi.json"
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
API_KEY = "schemathesis-key-0123456789"
TOKEN_SECRET = "t" * 40
# The routes a member calls with their connection token (not the API key).
MEMBER_ROUTES = ["GET /api/inbox", "GET /api/web/me", "GET /api/web/names", "GET /api/web/org"]


@pytest.fixture
def hub_under_test(tmp_path: Path) -> Iterator[Served]:
    env = {"HUB_API_KEY": API_KEY, "HUB_TOKEN_SECRET": TOKEN_SECRET}
    hub = Served(tmp_path, "--workers", "1", env=env)
    try:
        hub.wait_ready()
        yield hub
    finally:
        if hub.proc.poll() is None:
            hub.terminate()


def _request(
    hub: Served, method: str, path: str, body: bytes | None = None, auth: bool = True
) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {API_KEY}"} if auth else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(
        f"http://127.0.0.1:{hub.port}{path}", data=body, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


# --- findings ----------------------------------------------------------------------


def test_405_lists_the_allowed_methods(hub_under_test: Served) -> None:
    for method, path, allowed in [
        ("DELETE", "/api/publish", {"POST"}),
        ("TRACE", "/api/units", {"GET", "POST"}),
        ("PUT", "/api/channels/chat:x/history", {"GET"}),
    ]:
        status, headers, body = _request(hub_under_test, method, path)
        assert status == 405, (method, path, body)
        assert {m.strip() for m in headers["Allow"].split(",")} >= allowed, headers
        assert set(body) == {"error"} and body["error"]["message"]
