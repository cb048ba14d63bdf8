"""The directory's HTTP API: CRUD, search, move, flowing, auth and errors."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from tests.channels.conftest import DomainHub


async def test_units_tree_and_subtree(org: DomainHub) -> None:
    body = await org.ok("GET", "/api/units/b1")
    assert body["ancestors"] == ["c1", "s1", "d"] and body["kind"] == "branch"
    sub = await org.ok("GET", "/api/units?root=s1")
    assert {u["id"] for u in sub["units"]} == {"s1", "c1", "b1"}
    children = await org.ok("GET", "/api/units?parent=d")
    assert [u["id"] for u in children["units"]] == ["s1", "s2"]
    found = await org.ok("GET", "/api/units?q=安园")
    assert {u["id"] for u in found["units"]} == {"c1", "b1"}


async def test_member_crud_and_phone_normalised(org: DomainHub) -> None:
    m1 = await org.ok("GET", "/api/members/m1")
    assert m1["phone"] == "+8613800138000" and m1["roles"] == ["member"] and m1["groups"] == ["g1"]
    staff = await org.ok("GET", "/api/members/staff1")
    assert staff["roles"] == ["staff"]
    changed = await org.ok(
        "PATCH", "/api/members/m2", {"phone": "+86-139-0000-0000", "wechat": "zl"}
    )
    assert changed["phone"] == "+8613900000000" and changed["wechat"] == "zl"
    assert (await org.ok("DELETE", "/api/members/m2")) == {"deleted": "m2"}
    status, body = await org.api("GET", "/api/members/m2")
    assert status == 404 and body["error"]["code"] == 113
    g1 = await org.ok("GET", "/api/groups/g1")
    assert g1["members"] == ["m1", "staff1"]


async def test_member_search(org: DomainHub) -> None:
    async def ids(query: str) -> set[str]:
        return {m["id"] for m in (await org.ok("GET", "/api/members" + query))["members"]}

    assert await ids("?unit=s1&recursive=true") == {"staff1", "m1", "m2", "flow1"}
    assert await ids("?unit=b1") == {"m1", "m2", "flow1"}  # flow1's home unit is b1
    assert await ids("?q=王") == {"m1"}
    assert await ids("?q=深圳") == {"flow1"}
    assert await ids("?role=staff") == {"staff1"}
    assert await ids("?flowing=true") == {"flow1"}
    assert await ids("?role=admin&unit=d") == {"admin1"}
    by_unit = await org.ok("GET", "/api/units/s2/members")
    assert {m["id"] for m in by_unit["members"]} == {"m3", "flow1"}


async def test_move_and_flowing(org: DomainHub) -> None:
    moved = await org.ok("POST", "/api/members/m2/move", {"unit": "b2"})
    assert moved["unit"] == "b2"
    flowing = await org.ok(
        "POST", "/api/members/m1/flowing", {"location": "浙江省杭州市", "unit": "b2"}
    )
    assert flowing["flowing"] and flowing["home_unit"] == "b1" and flowing["unit"] == "b2"
    assert flowing["location"] == "浙江省杭州市"
    back = await org.ok("DELETE", "/api/members/m1/flowing")
    assert not back["flowing"] and back["unit"] == "b1" and back["home_unit"] is None
    assert back["location"] is None
    status, body = await org.api("POST", "/api/members/m1/move", {"unit": "nowhere"})
    assert status == 400 and body["error"]["reason"] == "unknown_unit"


async def test_groups_crud_and_membership(org: DomainHub) -> None:
    g = await org.ok("PUT", "/api/groups/g2/members/m1", {"owner": True})
    assert g["owners"] == ["m1"] and g["members"] == ["m1", "m3"]
    g = await org.ok("DELETE", "/api/groups/g2/members/m3")
    assert g["members"] == ["m1"]
    g = await org.ok("PATCH", "/api/groups/g2", {"name": "新名字", "members": ["m2", "m3"]})
    assert g["name"] == "新名字" and g["members"] == ["m1", "m2", "m3"]  # owners stay members
    mine = await org.ok("GET", "/api/groups?member=m2")
    assert [x["id"] for x in mine["groups"]] == ["g1", "g2"]
    assert (await org.ok("DELETE", "/api/groups/g2")) == {"deleted": "g2"}
    status, _ = await org.api("DELETE", "/api/groups/g2/members/m1")
    assert status == 404


ERRORS: list[tuple[str, str, object, int, str]] = [
    ("POST", "/api/units", {"id": "d", "name": "重复"}, 409, "duplicate_id"),
    ("POST", "/api/units", {"id": "x", "name": "孤儿", "parent": "nope"}, 400, "unknown_parent"),
    ("POST", "/api/units", {"id": "bad id", "name": "空格"}, 400, "bad_id"),
    ("PATCH", "/api/units/s1", {"parent": "b1"}, 409, "cycle"),
    ("DELETE", "/api/units/b1", None, 409, "unit_not_empty"),
    ("POST", "/api/members", {"id": "m1", "name": "重复", "unit": "b1"}, 409, "duplicate_id"),
    ("POST", "/api/members", {"id": "n", "unit": "b1"}, 400, "missing_name"),
    ("POST", "/api/members", {"id": "n", "name": "某", "unit": "b9"}, 400, "unknown_unit"),
    (
        "POST",
        "/api/members",
        {"id": "n", "name": "某", "unit": "b1", "phone": "123"},
        400,
        "bad_phone",
    ),
    (
        "POST",
        "/api/members",
        {"id": "n", "name": "某", "unit": "b1", "roles": "书记长"},
        400,
        "bad_role",
    ),
    ("POST", "/api/groups", {"id": "g1", "name": "重复"}, 409, "duplicate_id"),
    (
        "POST",
        "/api/groups",
        {"id": "g9", "name": "某", "members": ["ghost"]},
        400,
        "unknown_member",
    ),
]


async def test_errors(org: DomainHub) -> None:
    for method, path, body, status, reason in ERRORS:
        got, answer = await org.api(method, path, body)
        assert (got, answer["error"]["reason"]) == (status, reason), (path, body, answer)
        assert answer["error"]["message"] and answer["error"]["code"] == 107


async def test_not_found_and_bad_body(org: DomainHub) -> None:
    for path in ("/api/units/zz", "/api/members/zz", "/api/groups/zz"):
        status, body = await org.api("GET", path)
        assert status == 404 and body["error"]["code"] == 113
    status, body = await org.api("POST", "/api/units", data=b"{not json")
    assert status == 400 and body["error"]["code"] == 107
    status, body = await org.api("GET", "/api/directory/export?kind=bogus")
    assert status == 400


async def test_auth_api_key_or_admin_token(org: DomainHub) -> None:
    url = org.hub.http_url + "/api/units"
    admin = org.token("admin1", role="admin")
    plain = org.token("m1")
    async with aiohttp.ClientSession() as s:
        async with s.get(url) as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == 101
        async with s.get(url, headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
        async with s.get(url, headers={"Authorization": f"Bearer {plain}"}) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == 103
        async with s.get(url, headers={"Authorization": f"Bearer {admin}"}) as r:
            assert r.status == 200 and len((await r.json())["units"]) == 6
        expired = org.token("admin1", role="admin", exp=1)
        async with s.get(url, headers={"Authorization": f"Bearer {expired}"}) as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == 109


async def test_openapi_describes_directory(org: DomainHub) -> None:
    doc = await org.ok("GET", "/api/openapi.json")
    for path in (
        "/api/units",
        "/api/members/{id}/move",
        "/api/members/{id}/flowing",
        "/api/groups/{id}/members/{member}",
        "/api/directory/import",
        "/api/directory/export",
        "/api/members/{id}/unread",
    ):
        assert path in doc["paths"], path
    assert "Member" in doc["components"]["schemas"]


async def test_personal_data_not_logged(dhub: DomainHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await dhub.ok("POST", "/api/units", {"id": "u", "name": "单位"})
    await dhub.ok(
        "POST",
        "/api/members",
        {"id": "p", "name": "某人", "unit": "u", "phone": "13812345678", "wechat": "wx_secret_id"},
    )
    csv = "编号,姓名,所属单位,手机号,微信号\np2,某某,u,13987654321,wx_other_id\n"
    await dhub.ok("POST", "/api/directory/import?kind=members", data=csv.encode())
    text = caplog.text
    for secret in ("13812345678", "wx_secret_id", "13987654321", "wx_other_id"):
        assert secret not in text
    assert "+86138****5678" in text


async def test_a_cycle_in_the_stored_tree_is_walked_once(org: DomainHub) -> None:
    """A cycle that reached the table (data from before the moves were serialised):
    every tree walk ends, each unit once, instead of looping or piling up rows."""
    await org.ok("POST", "/api/units", {"id": "ca", "name": "甲", "parent": "d"})
    await org.ok("POST", "/api/units", {"id": "cb", "name": "乙", "parent": "ca"})
    await org.ok("POST", "/api/members", {"id": "cm", "name": "丙", "unit": "cb"})
    db = org.hub.runtime.store.database
    await db.execute("UPDATE dir_units SET parent = ? WHERE id = ?", "cb", "ca")

    async def walks() -> None:
        assert (await org.ok("GET", "/api/units/cb"))["ancestors"] == ["ca"]
        assert (await org.ok("GET", "/api/units/ca"))["ancestors"] == ["cb"]
        tree = await org.ok("GET", "/api/units?root=ca")
        assert [u["id"] for u in tree["units"]] == ["ca", "cb"]
        members = await org.ok("GET", "/api/units/ca/members")
        assert [m["id"] for m in members["members"]] == ["cm"]
        status, body = await org.api(
            "POST", "/api/notices", {"title": "通知", "body": "内容", "audience": {"units": ["ca"]}}
        )
        assert status == 201 and body["notice"]["recipients"] == 1, body
        info = await org.ok("GET", f"/api/notices/{body['notice']['id']}")
        assert {u["unit"] for u in info["units"]} == {"ca", "cb"}

    await asyncio.wait_for(walks(), 60)  # only turns a runaway query into a failure
    # the cycle is repaired by moving one of its units out of it
    await org.ok("PATCH", "/api/units/ca", {"parent": "d"})
    assert (await org.ok("GET", "/api/units/cb"))["ancestors"] == ["ca", "d"]


async def test_concurrent_moves_cannot_close_a_cycle(org: DomainHub) -> None:
    """Pairs of siblings moved under each other at the same time (A under B, B under
    A): at most one move of each pair wins, and the tree never holds a cycle."""
    pairs = 12
    for i in range(pairs):
        await org.ok("POST", "/api/units", {"id": f"pa{i}", "name": f"甲{i}", "parent": "d"})
        await org.ok("POST", "/api/units", {"id": f"pb{i}", "name": f"乙{i}", "parent": "d"})
    moves = []
    for i in range(pairs):
        moves.append(org.api("PATCH", f"/api/units/pa{i}", {"parent": f"pb{i}"}))
        moves.append(org.api("PATCH", f"/api/units/pb{i}", {"parent": f"pa{i}"}))
    results = await asyncio.gather(*moves)
    for i in range(pairs):
        (s1, b1), (s2, b2) = results[2 * i], results[2 * i + 1]
        assert sorted((s1, s2)) == [200, 409], (i, b1, b2)
        a = await org.ok("GET", f"/api/units/pa{i}")
        b = await org.ok("GET", f"/api/units/pb{i}")
        assert a["ancestors"][-1] == "d" and b["ancestors"][-1] == "d", (a, b)
