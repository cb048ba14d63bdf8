"""PROTOCOL.md §4 through real sockets: who may subscribe and publish in each
namespace (member, group, unit, notice) and what token grants add."""

from __future__ import annotations

from typing import Any

from tests.channels.conftest import DomainHub
from tests.support.ws import WsClient, open_ws

MSG = {"text": "你好"}


async def _as(h: DomainHub, member: str, **claims: Any) -> WsClient:
    return await open_ws(h.hub.ws_url, h.token(member, **claims))


async def _code(c: WsClient, op: str, channel: str) -> int | None:
    if op == "subscribe":
        r = await c.call("subscribe", channel=channel)
        if r["ok"]:
            await c.ok("unsubscribe", channel=channel)
    else:
        r = await c.call("publish", channel=channel, data=MSG)
    return None if r["ok"] else int(r["error"]["code"])


async def _table(h: DomainHub, rows: list[tuple[str, str, str, int | None]]) -> None:
    clients: dict[str, WsClient] = {}
    got = []
    for member, op, channel, _want in rows:
        if member not in clients:
            clients[member] = await _as(h, member)
        got.append((member, op, channel, await _code(clients[member], op, channel)))
    assert got == rows


async def test_member_namespace(org: DomainHub) -> None:
    c = await open_ws(org.hub.ws_url, org.token("m1"), connect=False)
    reply = await c.call("connect", token=org.token("m1"))
    assert "member:m1" in reply["subs"]
    await _table(
        org,
        [
            ("m1", "subscribe", "member:m2", 103),
            ("m1", "publish", "member:m1", 103),
            ("m1", "publish", "member:m2", 103),
        ],
    )
    status, _ = await org.api("POST", "/api/publish", {"channel": "member:m1", "data": MSG})
    assert status == 200


async def test_group_namespace(org: DomainHub) -> None:
    await _table(
        org,
        [
            ("m1", "subscribe", "group:g1", None),
            ("m1", "publish", "group:g1", None),
            ("staff1", "publish", "group:g1", None),  # an owner is a member
            ("m3", "subscribe", "group:g1", 103),
            ("m3", "publish", "group:g1", 103),
            ("m3", "subscribe", "group:g2", None),
            ("stranger", "subscribe", "group:g1", 103),  # not in the directory
            ("stranger", "publish", "group:g2", 103),
            ("m1", "subscribe", "group:nope", 103),
            ("m1", "subscribe", "bogus:x", 102),
        ],
    )


async def test_unit_namespace(org: DomainHub) -> None:
    await _table(
        org,
        [
            # subscribe: members of the unit and of its sub-units
            ("m1", "subscribe", "unit:b1", None),
            ("m1", "subscribe", "unit:c1", None),
            ("m1", "subscribe", "unit:d", None),
            ("m1", "subscribe", "unit:s2", 103),
            ("m1", "subscribe", "unit:b2", 103),
            ("flow1", "subscribe", "unit:b2", None),  # where a flowing member is now
            ("flow1", "subscribe", "unit:b1", None),  # and the home branch
            ("flow1", "subscribe", "unit:s1", None),
            ("staff1", "subscribe", "unit:b1", 103),  # above a unit is not in it
            # publish: unit admins (staff or admin of the unit or an ancestor)
            ("m1", "publish", "unit:b1", 103),
            ("staff1", "publish", "unit:s1", None),
            ("staff1", "publish", "unit:b1", None),
            ("staff1", "publish", "unit:d", 103),
            ("staff1", "publish", "unit:s2", 103),
            ("admin1", "publish", "unit:b2", None),
            ("flow1", "publish", "unit:b2", 103),
        ],
    )
    admin = await _as(org, "outsider", role="admin")
    assert await _code(admin, "publish", "unit:s2") is None  # an admin token
    assert await _code(admin, "subscribe", "unit:s2") == 103
    status, _ = await org.api("POST", "/api/publish", {"channel": "unit:b1", "data": MSG})
    assert status == 200  # the server API


async def test_notice_namespace(org: DomainHub) -> None:
    await _table(
        org,
        [
            ("admin1", "subscribe", "notice:n1", None),  # a directory admin
            ("m1", "subscribe", "notice:n1", 103),
            ("staff1", "subscribe", "notice:n1", 103),
            ("admin1", "publish", "notice:n1", 103),  # nobody publishes
        ],
    )
    admin = await _as(org, "outsider", role="admin")
    assert await _code(admin, "subscribe", "notice:n1") is None
    assert await _code(admin, "publish", "notice:n1") == 103

    async def sender_too(notice_id: str) -> set[str]:
        return {"m1"} | await org.ext.notice_watchers(notice_id)

    org.ext.set_notice_watchers(sender_too)  # what the notices layer will do
    m1 = await _as(org, "m1")
    assert await _code(m1, "subscribe", "notice:n1") is None


async def test_token_grants(org: DomainHub) -> None:
    sub_only = await _as(org, "m3", channels=["group:g1", "unit:b1"])
    assert await _code(sub_only, "subscribe", "group:g1") is None
    assert await _code(sub_only, "publish", "group:g1") == 103
    assert await _code(sub_only, "subscribe", "unit:b1") is None
    both = await _as(org, "m3", channels=[{"channel": "group:g1", "publish": True}])
    assert await _code(both, "publish", "group:g1") is None
    assert await _code(both, "subscribe", "group:g1") is None
    assert await _code(both, "publish", "unit:b1") == 103


async def test_permission_cache_stays_bounded(org: DomainHub, monkeypatch: Any) -> None:
    from channels.directory import service

    monkeypatch.setattr(service, "_CACHE_MAX", 5)
    directory = org.ext.directory
    for i in range(20):  # members the directory does not know: cached as "no access"
        assert await directory.access(f"nobody-{i}") is None
    assert len(directory._access) <= 5
    acc = await directory.access("m1")
    assert acc is not None and "g1" in acc.groups


async def test_deleted_member_is_disconnected_with_4003(org: DomainHub) -> None:
    c = await open_ws(org.hub.ws_url, org.token("m2"))
    await c.ok("subscribe", channel="group:g1")
    await org.ok("DELETE", "/api/members/m2")
    d = await c.push("disconnect")
    assert d["code"] == 4003 and d["reconnect"] is False and d["reason"]
    assert (await c.closed())[0] == 4003
