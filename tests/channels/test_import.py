"""CSV import (UTF-8 with/without BOM, GBK; Chinese or English headers; all or
nothing; idempotent) and export (UTF-8 with BOM, re-importable)."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.channels.conftest import DomainHub

UNITS = """编号,名称,上级单位,类型
b1,第一支部,c1,支部
d,示范区,,区
s1,新华街道,d,街道
c1,安园社区,新华街道,社区
"""

MEMBERS = """编号,姓名,所属支部/单位,角色,流动党员,流出支部,现居地,手机号,微信号
m1,王芳,第一支部,党员,否,,,13800138000,wangfang
m2,赵磊,b1,党务工作者、干部,否,,,+86 139 0000 0001,
f1,刘洋,s1,,是,b1,广东省深圳市,0086 13700000002,liuyang
"""

ENGLISH = """id,name,unit,roles,flowing,home_unit,location,phone,wechat
e1,Alice,b1,member,no,,,13800000003,
"""

GROUPS = """编号,名称,群主,成员
g1,工作群,m2,m1、f1
"""


async def _import(h: DomainHub, kind: str, data: bytes) -> tuple[int, Any]:
    return await h.api("POST", f"/api/directory/import?kind={kind}", data=data)


async def _load(h: DomainHub) -> None:
    status, body = await _import(h, "units", UNITS.encode("utf-8"))
    assert status == 200 and body["created"] == 4, body
    status, body = await _import(h, "members", b"\xef\xbb\xbf" + MEMBERS.encode("utf-8"))
    assert status == 200 and body["created"] == 3 and body["encoding"] == "utf-8-sig", body


async def test_good_files(dhub: DomainHub) -> None:
    await _load(dhub)
    m2 = await dhub.ok("GET", "/api/members/m2")
    assert m2["roles"] == ["staff", "cadre"] and m2["phone"] == "+8613900000001"
    assert m2["unit"] == "b1"
    f1 = await dhub.ok("GET", "/api/members/f1")
    assert f1["flowing"] and f1["home_unit"] == "b1" and f1["location"] == "广东省深圳市"
    assert f1["phone"] == "+8613700000002"
    c1 = await dhub.ok("GET", "/api/units/c1")
    assert c1["parent"] == "s1" and c1["kind"] == "community"  # parent given by name
    status, body = await _import(dhub, "members", ENGLISH.encode())
    assert status == 200 and body["created"] == 1 and body["encoding"] == "utf-8"
    status, body = await _import(dhub, "groups", GROUPS.encode())
    assert status == 200 and body["created"] == 1
    g1 = await dhub.ok("GET", "/api/groups/g1")
    assert g1["owners"] == ["m2"] and g1["members"] == ["f1", "m1", "m2"]


async def test_reimport_changes_nothing(dhub: DomainHub) -> None:
    await _load(dhub)
    await _import(dhub, "groups", GROUPS.encode())
    for kind, text in (("units", UNITS), ("members", MEMBERS), ("groups", GROUPS)):
        status, body = await _import(dhub, kind, text.encode())
        assert status == 200, body
        assert body["changed"] is False and body["created"] == body["updated"] == 0
        assert body["unchanged"] == body["rows"] and "没有任何变化" in body["message"]
    edited = MEMBERS.replace("广东省深圳市", "广东省广州市")
    status, body = await _import(dhub, "members", edited.encode())
    assert body["updated"] == 1 and body["unchanged"] == 2 and body["changed"] is True


async def test_bad_rows_commit_nothing(dhub: DomainHub) -> None:
    await _import(dhub, "units", UNITS.encode())
    bad = """姓名,编号,所属单位,手机号,角色
王芳,m1,b1,13800138000,党员
,m2,b1,,
赵磊,m3,不存在的支部,,
孙丽,m1,b1,,
周杰,m5,b1,12345,
吴敏,m6,b1,,书记长
"""
    status, body = await _import(dhub, "members", bad.encode())
    assert status == 400 and body["error"]["code"] == 107
    errors = {(e["row"], e["column"], e["code"]) for e in body["errors"]}
    assert errors == {
        (3, "姓名", "missing_name"),
        (4, "所属单位", "unknown_unit"),
        (5, "编号", "duplicate_id"),
        (6, "手机号", "bad_phone"),
        (7, "角色", "bad_role"),
    }
    assert all(e["message"] and not e["message"].isascii() for e in body["errors"])
    assert "12345" not in str(body)  # the phone is masked even in the report
    listed = await dhub.ok("GET", "/api/members")
    assert listed["members"] == []  # all or nothing


async def test_missing_column_and_bad_encoding(dhub: DomainHub) -> None:
    status, body = await _import(dhub, "members", "姓名,手机号\n王芳,13800138000\n".encode())
    assert status == 400 and body["errors"][0]["code"] == "missing_column"
    status, body = await _import(dhub, "members", b"\xef\xbb\xbf\xff\xfe")
    assert status == 400 and body["errors"][0]["code"] == "bad_encoding"
    status, body = await _import(dhub, "units", b"")
    assert status == 400 and body["errors"][0]["code"] == "empty_file"


async def test_gbk_file(dhub: DomainHub) -> None:
    status, body = await _import(dhub, "units", UNITS.encode("gbk"))
    assert status == 200 and body["encoding"] == "gbk" and body["created"] == 4
    status, body = await _import(dhub, "members", MEMBERS.encode("gbk"))
    assert status == 200 and body["encoding"] == "gbk" and body["created"] == 3
    m1 = await dhub.ok("GET", "/api/members/m1")
    assert m1["name"] == "王芳" and m1["unit"] == "b1"
    status, body = await _import(dhub, "members", MEMBERS.encode("utf-8"))
    assert body["changed"] is False  # the same content in another encoding


async def test_unit_cycle_refused(dhub: DomainHub) -> None:
    status, body = await _import(dhub, "units", "编号,名称,上级单位\na,甲,b\nb,乙,a\n".encode())
    assert status == 400 and {e["code"] for e in body["errors"]} == {"cycle"}
    status, body = await _import(dhub, "groups", "编号,名称,成员\ng,群,ghost\n".encode())
    assert status == 400 and body["errors"][0]["code"] == "unknown_member"


async def test_export_reimports_unchanged(dhub: DomainHub) -> None:
    await _load(dhub)
    await _import(dhub, "groups", GROUPS.encode())
    headers = dhub.hub.api_headers
    for kind in ("units", "members", "groups"):
        url = f"{dhub.hub.http_url}/api/directory/export?kind={kind}"
        async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
            data = await r.read()
        assert data.startswith(b"\xef\xbb\xbf")
        if kind == "members":
            text = data.decode("utf-8-sig")
            assert text.splitlines()[0].startswith("编号,姓名,所属单位,角色")
            assert "'+8613800138000" in text and "党务工作者、干部" in text
        status, body = await _import(dhub, kind, data)
        assert status == 200 and body["changed"] is False, body


# -- ids typed full-width (ｍ１ with a Chinese IME) are the stored ids ------------------
async def test_fullwidth_member_id_updates_the_stored_member(org: DomainHub) -> None:
    before = await org.ok("GET", "/api/members/m1")
    assert before["phone"] == "+8613800138000"
    status, body = await _import(org, "members", "编号,姓名,所属单位\nｍ１,王芳二,ｂ１\n".encode())
    assert status == 200 and body["updated"] == 1 and body["created"] == 0, body
    after = await org.ok("GET", "/api/members/m1")
    assert after == {**before, "name": "王芳二"}  # the columns the file lacks are kept
    # the same row again: nothing changes
    status, body = await _import(org, "members", "编号,姓名,所属单位\nｍ１,王芳二,b1\n".encode())
    assert status == 200 and body["unchanged"] == 1 and not body["changed"], body
    # ｍ１ and m1 in one file are the same member twice
    status, body = await _import(org, "members", "编号,姓名\nm1,甲\nｍ１,乙\n".encode())
    assert status == 400 and body["errors"][0]["code"] == "duplicate_id", body


async def test_fullwidth_group_id_keeps_its_members(org: DomainHub) -> None:
    before = await org.ok("GET", "/api/groups/g1")
    assert before["members"] == ["m1", "m2", "staff1"]
    status, body = await _import(org, "groups", "编号,名称\nｇ１,安园工作群改\n".encode())
    assert status == 200 and body["updated"] == 1 and body["created"] == 0, body
    after = await org.ok("GET", "/api/groups/g1")
    assert after == {**before, "name": "安园工作群改"}


async def test_fullwidth_member_ids_in_group_cells(org: DomainHub) -> None:
    data = "编号,名称,群主,成员\ng1,安园工作群,ｓｔａｆｆ１,ｍ１、m2、ｍ３\n"
    status, body = await _import(org, "groups", data.encode())
    assert status == 200 and not body["errors"] and body["updated"] == 1, body
    g1 = await org.ok("GET", "/api/groups/g1")
    assert g1["owners"] == ["staff1"] and g1["members"] == ["m1", "m2", "m3", "staff1"]
    # an id that is not an id is a row error naming the cell, not "unknown member"
    status, body = await _import(org, "groups", "编号,名称,成员\ng1,群,m1、王 芳\n".encode())
    assert status == 400 and [e["code"] for e in body["errors"]] == ["bad_id"], body
    assert body["errors"][0]["column"] == "成员"


async def test_fullwidth_unit_ids_in_any_order(org: DomainHub) -> None:
    # the child comes first and names its parent full-width, or the parent is full-width
    data = "编号,名称,上级单位\ny2,子,ｙ１\nｙ１,父,d\nx2,子二,x1\nｘ１,父二,ｄ\n"
    status, body = await _import(org, "units", data.encode())
    assert status == 200 and not body["errors"] and body["created"] == 4, body
    assert (await org.ok("GET", "/api/units/y2"))["parent"] == "y1"
    assert (await org.ok("GET", "/api/units/x2"))["ancestors"] == ["x1", "d"]
    status, body = await _import(org, "units", "编号,名称,上级单位\nｙ２,子,y1\n".encode())
    assert status == 200 and body["unchanged"] == 1, body


async def test_fullwidth_ids_in_api_paths_and_fields(org: DomainHub) -> None:
    m1 = await org.ok("GET", "/api/members/ｍ１")
    assert m1["id"] == "m1"
    g = await org.ok("POST", "/api/groups", {"id": "ｇ９", "name": "群", "members": ["ｍ１"]})
    assert g["id"] == "g9" and g["members"] == ["m1"]
    g = await org.ok("PUT", "/api/groups/ｇ９/members/ｍ２")
    assert g["members"] == ["m1", "m2"]
    units = await org.ok("GET", "/api/units?parent=ｃ１")
    assert [u["id"] for u in units["units"]] == ["b1"]
