"""A connection authenticated by its upgrade token gets the ``connect`` push: the
fields of the connect reply, the domain's connect-hook fields included (``unsigned``
open notices, ``unread`` chat counts), as its first frame."""

from __future__ import annotations

from typing import Literal

import pytest
import websockets

from tests.channels.conftest import DomainHub
from tests.channels.test_notices import NOTICE, send
from tests.support.ws import WsClient, open_ws


async def _upgrade_token_client(
    h: DomainHub, member: str, codec: Literal["json", "msgpack"], how: Literal["query", "bearer"]
) -> WsClient:
    token = h.token(member)
    url, headers = h.hub.ws_url, {}
    if how == "query":
        url += f"?token={token}"
    else:
        headers["Authorization"] = f"Bearer {token}"
    ws = await websockets.connect(
        url,
        subprotocols=[websockets.Subprotocol(f"hub.v1.{codec}")],
        additional_headers=headers,
        open_timeout=5,
    )
    assert ws.subprotocol == f"hub.v1.{codec}"
    return WsClient(ws, binary=codec == "msgpack")


@pytest.mark.parametrize("how", ["query", "bearer"])
@pytest.mark.parametrize("codec", ["json", "msgpack"])
async def test_upgrade_token_connection_gets_the_connect_push_with_domain_fields(
    nhub: DomainHub, codec: Literal["json", "msgpack"], how: Literal["query", "bearer"]
) -> None:
    m2 = await open_ws(nhub.hub.ws_url, nhub.token("m2"))
    for text in ("一", "二"):
        await m2.ok("publish", channel="group:g1", data={"text": text})
    notice = await send(nhub, {**NOTICE, "audience": {"members": ["m1"]}}, sender="admin1")

    c = await _upgrade_token_client(nhub, "m1", codec, how)
    first = await c._read_one(5.0)  # the first frame after the upgrade
    assert first["push"] == "connect", first
    assert first["member"] == "m1" and first["client"] and first["ping"] == 25
    assert "member:m1" in first["subs"]
    assert [u["notice"]["id"] for u in first["unsigned"]] == [notice["id"]]
    assert first["unread"] == {"group:g1": 2}

    # the same fields as the reply of an explicit connect (the hooks' ones included)
    other = await open_ws(nhub.hub.ws_url, connect=False, msgpack_codec=codec == "msgpack")
    reply = await other.ok("connect", token=nhub.token("m1"))
    assert set(first) - {"push"} == set(reply) - {"id", "ok"}
    assert first["unsigned"] == reply["unsigned"] and first["unread"] == reply["unread"]

    # a later connect op on the authenticated connection answers as before (no hooks)
    again = await c.ok("connect")
    assert again["client"] == first["client"] and again["member"] == "m1"
    assert "unsigned" not in again and "unread" not in again
    assert [p["client"] for p in c.pushes if p.get("push") == "connect"] == [first["client"]]


async def test_connect_op_connection_gets_no_connect_push(nhub: DomainHub) -> None:
    c = await open_ws(nhub.hub.ws_url, nhub.token("m1"))  # connect op
    await c.ok("ping")
    assert not [p for p in c.pushes if p.get("push") == "connect"]
