"""``POST /api/tokens`` with ``"role": "admin"`` (docs/web.md's production sign-in):
an API-key holder mints an administrator token, which the admin-only routes take."""

from __future__ import annotations

from typing import Any

import aiohttp
import jwt

from tests.channels.conftest import DomainHub


async def _mint(h: DomainHub, **body: object) -> tuple[int, dict[str, object]]:
    return await h.api("POST", "/api/tokens", {"sub": "admin1", "ttl": 600, **body})


async def _get(h: DomainHub, token: str, path: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.get(h.hub.http_url + path, headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        return r.status, await r.json()


async def _as(h: DomainHub, token: str, path: str) -> int:
    return (await _get(h, token, path))[0]


async def test_minted_admin_token_opens_admin_routes(org: DomainHub) -> None:
    status, body = await _mint(org, role="admin", name="张伟")
    assert status == 200, body
    admin = str(body["token"])
    claims = jwt.decode(admin, org.hub.secret, algorithms=["HS256"])
    assert claims["role"] == "admin" and claims["sub"] == "admin1"
    status, body = await _mint(org)
    assert status == 200
    plain = str(body["token"])
    assert "role" not in jwt.decode(plain, org.hub.secret, algorithms=["HS256"])
    for path in ("/api/units", "/api/web/org"):
        assert await _as(org, admin, path) == 200, path
        assert await _as(org, plain, path) == 403, path
    status, me = await _get(org, admin, "/api/web/me")
    assert status == 200 and me["admin"] is True and me["sender"] is True


async def test_unknown_role_is_refused(dhub: DomainHub) -> None:
    for role in ("superuser", "", 1, ["admin"], {"admin": True}):
        status, body = await _mint(dhub, role=role)
        assert status == 400, role
        assert body["error"]["code"] == 107 and "'role'" in body["error"]["message"]
