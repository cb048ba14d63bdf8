"""Malformed registered token claims are refused (101, close 4001) the same way at
the upgrade, by the ``connect`` op and by ``refresh``, through real sockets; a
numeric-string ``exp`` in particular must never give a token that does not expire."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from tests.support.hubs import InProcessHub, wait_until
from tests.support.ws import open_ws

FUTURE = int(time.time()) + 3600
ROOM = "chat:room"

# claims (besides a valid sub) -> words the refusal names. A past time read as a
# number (``"1"``, ``true``) may be refused as expired instead (109 / 4013).
EITHER = {"exp past numeric string", "exp bool"}
MALFORMED: dict[str, tuple[dict[str, Any], str]] = {
    "exp numeric string": ({"exp": str(FUTURE)}, "'exp'"),
    "exp past numeric string": ({"exp": "1"}, ""),  # refused either way (101 or 109)
    "exp word": ({"exp": "tomorrow"}, "exp"),
    "exp bool": ({"exp": True}, ""),  # PyJWT reads it as 1: expired
    "exp infinite": ({"exp": float("inf")}, "exp"),
    "nbf numeric string": ({"nbf": "0"}, "'nbf'"),
    "iat numeric string": ({"iat": "0"}, "'iat'"),
    "sub number": ({"sub": 12345}, "ubject"),
    "name number": ({"name": 5}, "'name'"),
    "channels object": ({"channels": {ROOM: True}}, "channels"),
    "channels publish string": ({"channels": [{"channel": ROOM, "publish": "yes"}]}, "channels"),
}


def bad_token(hub: InProcessHub, claims: dict[str, Any]) -> str:
    payload = {"sub": "m1", **claims}
    # json.dumps writes Infinity for float("inf"), as a careless issuer would
    return jwt.encode(payload, hub.secret, algorithm="HS256", json_encoder=json.JSONEncoder)


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_claims_refused_at_the_upgrade(hub: InProcessHub, case: str) -> None:
    claims, words = MALFORMED[case]
    c = await open_ws(hub.ws_url, bad_token(hub, claims), via_query=True)
    d = await c.push("disconnect")
    assert d["code"] in (4001, 4013) and words in d["reason"], d
    if case not in EITHER:
        assert d["code"] == 4001
    assert (await c.closed())[0] == d["code"]
    assert not hub.runtime.node.connections_of("m1")


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_claims_refused_by_connect(hub: InProcessHub, case: str) -> None:
    claims, words = MALFORMED[case]
    c = await open_ws(hub.ws_url, connect=False)
    r = await c.call("connect", token=bad_token(hub, claims))
    assert r["ok"] is False and r["error"]["code"] in (101, 109), r
    assert words in r["error"]["message"]
    if case not in EITHER:
        assert r["error"]["code"] == 101
    assert (await c.closed())[0] in (4001, 4013)


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_claims_refused_by_refresh(hub: InProcessHub, case: str) -> None:
    claims, words = MALFORMED[case]
    c = await open_ws(hub.ws_url, hub.token("m1", exp=FUTURE))
    r = await c.call("refresh", token=bad_token(hub, claims))
    assert r["ok"] is False and r["error"]["code"] in (101, 109), r
    assert words in r["error"]["message"]
    (conn,) = hub.runtime.node.connections_of("m1")
    assert conn.identity is not None and conn.identity.exp == FUTURE  # still the old token
    assert (await c.ok("ping"))["ok"]


async def test_numeric_exp_still_expires_the_connection(hub: InProcessHub) -> None:
    c = await open_ws(hub.ws_url, hub.token("m1", exp=int(time.time()) + 1), via_query=True)
    assert (await c.push("connect"))["member"] == "m1"
    assert (await c.closed(timeout=10))[0] == 4013
    await wait_until(lambda: not hub.runtime.node.connections_of("m1"))
