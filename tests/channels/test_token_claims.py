"""The HTTP routes that take a member token refuse malformed claims like the
WebSocket does (401 with a JSON error body), instead of treating them as absent."""

from __future__ import annotations

import time

import aiohttp
import jwt
import pytest

from tests.channels.conftest import DomainHub


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": str(int(time.time()) + 3600)},
        {"nbf": "0"},
        {"name": 5},
        {"channels": [{"channel": "chat:x", "publish": "yes"}]},
    ],
)
async def test_web_api_refuses_malformed_claims(org: DomainHub, claims: dict[str, object]) -> None:
    good = org.token("m1")
    bad = jwt.encode({"sub": "m1", **claims}, org.hub.secret, algorithm="HS256")
    async with aiohttp.ClientSession() as s:
        async with s.get(
            org.hub.http_url + "/api/web/me", headers={"Authorization": f"Bearer {good}"}
        ) as r:
            assert r.status == 200, await r.text()
        async with s.get(
            org.hub.http_url + "/api/web/me", headers={"Authorization": f"Bearer {bad}"}
        ) as r:
            body = await r.json()
            assert r.status == 401, body
            assert body["error"]["code"] == 101 and "token" in body["error"]["message"]
