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

# claims (besides a valid sub) -> (words the refusal names, error code)
MALFORMED: dict[str, tuple[dict[str, Any], str, int]] = {
    "exp numeric string": ({"exp": str(FUTURE)}, "'exp'", 101),
    "exp past numeric string": ({"exp": "1"}, "'exp'", 101),
    "exp word": ({"exp": "tomorrow"}, "'exp'", 101),
    "exp bool": ({"exp": True}, "'exp'", 101),  # PyJWT alone reads it as 1: "expired"
    "exp infinite": ({"exp": float("inf")}, "'exp'", 101),
    "nbf numeric string": ({"nbf": "0"}, "'nbf'", 101),
    "iat numeric string": ({"iat": "0"}, "'iat'", 101),
    "sub number": ({"sub": 12345}, "ubject", 101),
    "name number": ({"name": 5}, "'name'", 101),
    "channels object": ({"channels": {ROOM: True}}, "channels", 101),
    "channels publish string": (
        {"channels": [{"channel": ROOM, "publish": "yes"}]},
        "channels",
        101,
    ),
    "exp past number": ({"exp": 1.5}, "expired", 109),  # well-formed: the clock decides
    "nbf future number": ({"nbf": FUTURE}, "nbf", 101),
}
CLOSE = {101: 4001, 109: 4013}


def bad_token(hub: InProcessHub, claims: dict[str, Any]) -> str:
    payload = {"sub": "m1", **claims}
    # json.dumps writes Infinity for float("inf"), as a careless issuer would
    return jwt.encode(payload, hub.secret, algorithm="HS256", json_encoder=json.JSONEncoder)


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_claims_refused_at_the_upgrade(hub: InProcessHub, case: str) -> None:
    claims, words, code = MALFORMED[case]
    c = await open_ws(hub.ws_url, bad_token(hub, claims), via_query=True)
    d = await c.push("disconnect")
    assert d["code"] == CLOSE[code] and words in d["reason"], d
    assert (await c.closed())[0] == CLOSE[code]
    assert not hub.runtime.node.connections_of("m1")


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_claims_refused_by_connect(hub: InProcessHub, case: str) -> None:
    claims, words, code = MALFORMED[case]
    c = await open_ws(hub.ws_url, connect=False)
    r = await c.call("connect", token=bad_token(hub, claims))
    assert r["ok"] is False and r["error"]["code"] == code, r
    assert words in r["error"]["message"]
    assert (await c.closed())[0] == CLOSE[code]


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_claims_refused_by_refresh(hub: InProcessHub, case: str) -> None:
    claims, words, code = MALFORMED[case]
    c = await open_ws(hub.ws_url, hub.token("m1", exp=FUTURE))
    r = await c.call("refresh", token=bad_token(hub, claims))
    assert r["ok"] is False and r["error"]["code"] == code, r
    assert words in r["error"]["message"]
    (conn,) = hub.runtime.node.connections_of("m1")
    assert conn.identity is not None and conn.identity.exp == FUTURE  # still the old token
    assert (await c.ok("ping"))["ok"]


async def test_numeric_exp_still_expires_the_connection(hub: InProcessHub) -> None:
    c = await open_ws(hub.ws_url, hub.token("m1", exp=int(time.time()) + 1), via_query=True)
    assert (await c.push("connect"))["member"] == "m1"
    assert (await c.closed(timeout=10))[0] == 4013
    await wait_until(lambda: not hub.runtime.node.connections_of("m1"))
