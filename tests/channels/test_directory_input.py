"""What spreadsheets typed with a Chinese IME contain, through the HTTP API and the
CSV import: full-width digits and separators, digits of other scripts, unit kinds
of the whole five-level network."""

from __future__ import annotations

from typing import Any

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


@pytest.mark.parametrize("raw", ["139\u06612340001", "139\u09672340001", "１３９١２３４０００１"])
async def test_other_script_digits_refused_by_post_members(org: DomainHub, raw: str) -> None:
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
