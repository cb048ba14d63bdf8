"""What spreadsheets typed with a Chinese IME contain, through the HTTP API and the
CSV import: full-width digits and separators, digits of other scripts, unit kinds
of the whole five-level network."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.channels.conftest import DomainHub


async def _import(h: DomainHub, kind: str, data: bytes) -> tuple[int, Any]:
    return await h.api("POST", f"/api/directory/import?kind={kind}", data=data)


IME_PHONES = [
    ("１３９１２３４０００１", "+8613912340001"),
    ("139１2340002", "+8613912340002"),
    ("（010）6512－3456", "+861065123456"),
    ("139－1234－0003", "+8613912340003"),
    ("139—1234—0004", "+8613912340004"),
]


async def test_ime_phones_through_post_members(org: DomainHub) -> None:
    for i, (raw, e164) in enumerate(IME_PHONES):
        m = await org.ok(
            "POST", "/api/members", {"id": f"p{i}", "name": "王芳", "unit": "b1", "phone": raw}
        )
        assert m["phone"] == e164
        assert (await org.ok("GET", f"/api/members/p{i}"))["phone"] == e164
    patched = await org.ok(
        "PATCH", "/api/members/p0", {"phone": "＋８６　１３８ ００１３ ８０００"}
    )
    assert patched["phone"] == "+8613800138000"


@pytest.mark.parametrize(
    "raw",
    ["139\u06612340001", "139\u09672340001", "１３９١２３４０００１", "+86 1380013800"],
)
async def test_bad_phones_refused_by_post_members(org: DomainHub, raw: str) -> None:
    status, body = await org.api(
        "POST", "/api/members", {"id": "x1", "name": "王芳", "unit": "b1", "phone": raw}
    )
    assert status == 400, body
    assert body["error"]["code"] == 107 and body["error"]["reason"] == "bad_phone"
    assert body["error"]["field"] == "phone" and "手机号" in body["error"]["message"]
    status, _ = await org.api("GET", "/api/members/x1")
    assert status == 404  # nothing stored


async def test_ime_phones_through_csv_import(org: DomainHub) -> None:
    rows = "".join(f"q{i},王芳,b1,{raw}\n" for i, (raw, _) in enumerate(IME_PHONES))
    status, body = await _import(
        org, "members", ("编号,姓名,所属单位,手机号\n" + rows).encode("utf-8")
    )
    assert status == 200 and body["created"] == len(IME_PHONES), body
    for i, (_, e164) in enumerate(IME_PHONES):
        assert (await org.ok("GET", f"/api/members/q{i}"))["phone"] == e164
    # the same file in GBK (full-width forms exist there too) changes nothing
    status, body = await _import(
        org, "members", ("编号,姓名,所属单位,手机号\n" + rows).encode("gbk")
    )
    assert status == 200 and body["changed"] is False, body


async def test_other_script_digits_refused_by_csv_import(org: DomainHub) -> None:
    text = "编号,姓名,所属单位,手机号\nr1,王芳,b1,13912340001\nr2,赵磊,b1,139\u06612340001\n"
    status, body = await _import(org, "members", text.encode("utf-8"))
    assert status == 400 and body["error"]["code"] == 107, body
    assert [(e["row"], e["column"], e["code"]) for e in body["errors"]] == [
        (3, "手机号", "bad_phone")
    ]
    status, _ = await org.api("GET", "/api/members/r1")
    assert status == 404  # all or nothing


@pytest.mark.parametrize("value", ["１０", "\u0661\u0660", " 10", "1_0", "+10"])
async def test_query_integers_are_ascii(org: DomainHub, value: str) -> None:
    status, body = await org.api("GET", "/api/members", params={"limit": value})
    assert status == 400 and body["error"]["code"] == 107, body
    assert body["error"]["field"] == "limit"
    status, body = await org.api("GET", "/api/members", params={"limit": "2"})
    assert status == 200 and len(body["members"]) == 2


@pytest.mark.parametrize("value", ["５m", "\u0665m", "1\u0660s"])
def test_durations_are_ascii(value: str) -> None:
    from channels.notices.policy import parse_duration
    from hub.protocol.errors import HubError

    assert parse_duration("5m") == 300_000
    with pytest.raises(HubError):
        parse_duration(value)


CHAIN = [
    ("p", "江苏省", None, "省", "province"),
    ("ct", "南京市", "p", "市", "city"),
    ("dt", "玄武区", "ct", "区", "district"),
    ("st", "梅园新村街道", "dt", "街道", "street"),
    ("cm", "长江路社区", "st", "社区", "community"),
    ("br", "长江路社区第一党支部", "cm", "党支部", "branch"),
]
OTHER_KINDS = [
    ("州", "city"),
    ("盟", "city"),
    ("乡", "street"),
    ("镇", "street"),
    ("村", "community"),
    ("机关", "agency"),
    ("企业", "enterprise"),
    ("学校", "school"),
    ("事业单位", "institution"),
    ("两新组织", "new_org"),
    ("党委", "committee"),
    ("党总支", "general_branch"),
    ("党工委", "work_committee"),
    ("联合党支部", "联合党支部"),  # a label the hub does not know is kept as written
]


async def test_five_level_chain_through_post_units(dhub: DomainHub) -> None:
    for uid, name, parent, label, code in CHAIN:
        unit = await dhub.ok(
            "POST", "/api/units", {"id": uid, "name": name, "parent": parent, "kind": label}
        )
        assert unit["kind"] == code
    br = await dhub.ok("GET", "/api/units/br")
    assert br["ancestors"] == ["cm", "st", "dt", "ct", "p"]
    for i, (label, code) in enumerate(OTHER_KINDS):
        unit = await dhub.ok(
            "POST", "/api/units", {"id": f"k{i}", "name": label, "parent": "dt", "kind": label}
        )
        assert unit["kind"] == code
    patched = await dhub.ok("PATCH", "/api/units/k0", {"kind": "province"})
    assert patched["kind"] == "province"


@pytest.mark.parametrize("kind", ["类" * 21, "党\x00委", 5])
async def test_bad_kind_refused(dhub: DomainHub, kind: object) -> None:
    status, body = await dhub.api("POST", "/api/units", {"id": "u", "name": "单位", "kind": kind})
    assert status == 400 and body["error"]["reason"] == "bad_kind", body
    assert body["error"]["field"] == "kind" and not body["error"]["message"].isascii()
    status, _ = await dhub.api("GET", "/api/units/u")
    assert status == 404


async def test_five_level_chain_through_csv_import(dhub: DomainHub) -> None:
    rows = [f"{uid},{name},{parent or ''},{label}" for uid, name, parent, label, _ in CHAIN]
    rows += [f"k{i},{label}单位,dt,{label}" for i, (label, _) in enumerate(OTHER_KINDS)]
    text = "编号,名称,上级单位,类型\n" + "\n".join(reversed(rows)) + "\n"  # children first
    status, body = await _import(dhub, "units", text.encode("gbk"))
    assert status == 200 and body["created"] == len(rows), body
    for uid, _, parent, _, code in CHAIN:
        unit = await dhub.ok("GET", f"/api/units/{uid}")
        assert (unit["kind"], unit["parent"]) == (code, parent)
    for i, (_, code) in enumerate(OTHER_KINDS):
        assert (await dhub.ok("GET", f"/api/units/k{i}"))["kind"] == code
    # the export writes the Chinese labels; importing it back changes nothing
    async with aiohttp.ClientSession() as s:
        url = f"{dhub.hub.http_url}/api/directory/export?kind=units"
        async with s.get(url, headers=dhub.hub.api_headers) as r:
            exported = await r.read()
    assert "省" in exported.decode("utf-8-sig") and "联合党支部" in exported.decode("utf-8-sig")
    status, body = await _import(dhub, "units", exported)
    assert status == 200 and body["changed"] is False, body


async def test_full_width_ids_and_flags_through_csv_import(org: DomainHub) -> None:
    text = (
        "编号,姓名,所属单位,流动党员,流出支部\nｍ００１,王芳,ｂ２,１,ｂ１\nｍ００２,赵磊,b1,ＮＯ,\n"
    )
    status, body = await _import(org, "members", text.encode("utf-8"))
    assert status == 200 and body["created"] == 2, body
    m = await org.ok("GET", "/api/members/m001")
    assert (m["unit"], m["flowing"], m["home_unit"]) == ("b2", True, "b1")
    assert (await org.ok("GET", "/api/members/m002"))["flowing"] is False
    created = await org.ok(
        "POST", "/api/members", {"id": "ｍ００３", "name": "孙丽", "unit": "ｂ１"}
    )
    assert (created["id"], created["unit"]) == ("m003", "b1")


async def test_full_width_references_through_the_api(org: DomainHub) -> None:
    unit = await org.ok("POST", "/api/units", {"id": "ｓ３", "name": "东风街道", "parent": "ｄ"})
    assert (unit["id"], unit["parent"]) == ("s3", "d")
    m = await org.ok(
        "POST",
        "/api/members",
        {"id": "f9", "name": "周杰", "unit": "s3", "flowing": "是", "home_unit": "ｂ１"},
    )
    assert (m["unit"], m["home_unit"]) == ("s3", "b1")
    group = await org.ok("POST", "/api/groups", {"id": "ｇ９", "name": "群", "unit": "ｓ３"})
    assert (group["id"], group["unit"]) == ("g9", "s3")
