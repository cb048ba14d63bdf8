"""Notices over real sockets on both stores: audience, delivery (live, later,
past the history window), receipts (monotone, idempotent, pushed live), counts
and roll-up, remind, recall, the audit chain, exports, classification."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.channels.conftest import DomainHub, FakeClock, load_org, notice_hub
from tests.support.ws import open_ws


def inline_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


NOTICE = {
    "title": "关于报送七月党费的通知",
    "body": "请各支部于月底前报送。",
    "audience": {"units": ["s1"], "subunits": True},
    "require_ack": True,
    "deadline": "2030-07-31T17:00:00+08:00",
    "classification": "内部",
    "attachments": [
        {
            "name": "报表.xlsx",
            "url": "https://files.example/1.xlsx",
            "size": 1024,
            "sha256": "a" * 64,
        }
    ],
}


async def send(h: DomainHub, body: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    status, reply = await h.api("POST", "/api/notices", {**(body or NOTICE), **extra})
    assert status == 201, (status, reply)
    notice: dict[str, Any] = reply["notice"]
    return notice


async def test_subtree_reaches_exactly_the_right_members(nhub: DomainHub) -> None:
    m1 = await open_ws(nhub.hub.ws_url, nhub.token("m1"))
    m3 = await open_ws(nhub.hub.ws_url, nhub.token("m3"))
    n = await send(nhub, sender="admin1")
    # s1 subtree: staff1 (s1), m1 m2 (b1), flow1 (flowing, home unit b1)
    assert n["recipients"] == 4
    msg = (await m1.messages("member:m1", 1))[0]
    assert msg["data"]["kind"] == "notice"
    got = msg["data"]["notice"]
    assert got["id"] == n["id"] and got["from"] == "admin1" and got["require_ack"] is True
    assert got["deadline"] == NOTICE["deadline"] and got["attachments"][0]["name"] == "报表.xlsx"
    # m3 (b2, not flowing) is outside the audience: a ping answers before any push
    await m3.ok("ping")
    assert not [p for p in m3.pushes if p.get("push") == "message"]
    # a member who connects later gets it from the history and in the connect reply
    later = await open_ws(nhub.hub.ws_url, nhub.token("flow1"), connect=False)
    reply = await later.call("connect", token=nhub.token("flow1"))
    assert [u["notice"]["id"] for u in reply["unsigned"]] == [n["id"]]
    hist = await later.ok("history", channel="member:flow1")
    assert hist["messages"][-1]["data"]["notice"]["id"] == n["id"]
    receipts = await nhub.ok("GET", f"/api/notices/{n['id']}/receipts")
    assert sorted(r["member"] for r in receipts["receipts"]) == ["flow1", "m1", "m2", "staff1"]


async def test_catch_up_past_the_history_window(tmp_path: Path, database_url: str) -> None:
    clock = FakeClock()
    async with notice_hub(tmp_path / "d", database_url, clock) as h:
        await load_org(h)
        h.hub.runtime.settings.history_size = 2
        first = await send(h, {**NOTICE, "audience": {"members": ["m2"]}})
        for i in range(3):  # push the notice out of m2's window
            await h.ok("POST", "/api/publish", {"channel": "member:m2", "data": {"i": i}})
    async with notice_hub(
        tmp_path / "d",
        database_url,
        clock,
    ) as h2:
        h2.hub.runtime.settings.history_size = 2
        ws = await open_ws(h2.hub.ws_url, connect=False)
        reply = await ws.call("connect", token=h2.token("m2"))
        assert [u["notice"]["id"] for u in reply["unsigned"]] == [first["id"]]
        assert reply["unsigned"][0]["state"] == "sent"
        await ws.ok("receipt", notice=first["id"], state="acked")
        again = await (await open_ws(h2.hub.ws_url, connect=False)).call(
            "connect", token=h2.token("m2")
        )
        assert again["unsigned"] == []


async def test_receipts_monotone_idempotent_and_pushed_live(nhub: DomainHub) -> None:
    n = await send(nhub, sender="admin1")
    watcher = await open_ws(nhub.hub.ws_url, nhub.token("admin1"))
    await watcher.ok("subscribe", channel=f"notice:{n['id']}")
    outsider = await open_ws(nhub.hub.ws_url, nhub.token("m3"))
    denied = await outsider.call("subscribe", channel=f"notice:{n['id']}")
    assert denied["error"]["code"] == 103
    m1 = await open_ws(nhub.hub.ws_url, nhub.token("m1"))
    r = await m1.ok("receipt", notice=n["id"], state="delivered")
    assert r["state"] == "delivered"
    p = await watcher.push("receipt")
    assert (p["notice"], p["member"], p["state"]) == (n["id"], "m1", "delivered")
    assert isinstance(p["ts"], int)
    assert (await m1.ok("receipt", notice=n["id"], state="acked"))["state"] == "acked"
    assert (await watcher.push("receipt"))["state"] == "acked"
    # backwards and repeated: harmless, nothing pushed
    assert (await m1.ok("receipt", notice=n["id"], state="read"))["state"] == "acked"
    assert (await m1.ok("receipt", notice=n["id"], state="acked"))["state"] == "acked"
    m2 = await open_ws(nhub.hub.ws_url, nhub.token("m2"))
    await m2.ok("receipt", notice=n["id"], state="read", device="android")
    assert (await watcher.push("receipt"))["member"] == "m2"
    assert not [x for x in watcher.pushes if x.get("push") == "receipt"]
    bad = await m1.call("receipt", notice=n["id"], state="sent")
    assert bad["error"]["code"] == 107
    stranger = await outsider.call("receipt", notice=n["id"], state="acked")
    assert stranger["error"]["code"] == 113
    info = await nhub.ok("GET", f"/api/notices/{n['id']}")
    assert info["counts"] == {"sent": 2, "delivered": 0, "read": 1, "acked": 1}
    units = {u["unit"]: u for u in info["units"]}
    assert units["d"]["total"] == 4 and units["d"]["counts"]["acked"] == 1
    # flow1 is attached to b2 (under s2) and counts under the home branch b1 too
    assert units["s1"]["total"] == 4 and units["s1"]["via_home"] == 1
    assert units["b1"]["total"] == 3 and units["b1"]["counts"] == {
        "sent": 1,
        "delivered": 0,
        "read": 1,
        "acked": 1,
    }
    assert units["b2"]["total"] == 1 and units["b2"]["via_home"] == 0
    assert units["s2"]["unsigned"] == 1
    assert units["d"]["via_home"] == 0  # the common ancestor counts flow1 once
    audit = await nhub.ok("GET", f"/api/notices/{n['id']}/audit")
    assert audit["ok"] and audit["events"] == 4  # created + 3 changes


async def test_sender_watches_its_notice(nhub: DomainHub) -> None:
    n = await send(nhub, sender="staff1")
    ws = await open_ws(nhub.hub.ws_url, nhub.token("staff1"))
    await ws.ok("subscribe", channel=f"notice:{n['id']}")
    m2 = await open_ws(nhub.hub.ws_url, nhub.token("m2"))
    await m2.ok("receipt", notice=n["id"], state="read")
    assert (await ws.push("receipt"))["member"] == "m2"


async def test_idempotency_key(nhub: DomainHub) -> None:
    first = await send(nhub, idem="k-1")
    status, again = await nhub.api("POST", "/api/notices", {**NOTICE, "idem": "k-1"})
    assert status == 200 and again["created"] is False and again["notice"]["id"] == first["id"]
    listed = await nhub.ok("GET", "/api/notices?sender=system")
    assert [x["id"] for x in listed["notices"]] == [first["id"]]


async def test_remind_and_recall(nhub: DomainHub) -> None:
    m1 = await open_ws(nhub.hub.ws_url, nhub.token("m1"))
    m2 = await open_ws(nhub.hub.ws_url, nhub.token("m2"))
    n = await send(nhub)
    await m1.messages("member:m1", 1)
    await m2.messages("member:m2", 1)
    await m1.ok("receipt", notice=n["id"], state="acked")
    await m2.ok("receipt", notice=n["id"], state="read")
    reminded = await nhub.ok("POST", f"/api/notices/{n['id']}/remind")
    assert reminded["reminded"] == ["flow1", "m2", "staff1"]
    assert (await m2.messages("member:m2", 1))[0]["data"]["kind"] == "remind"
    recalled = await nhub.ok("POST", f"/api/notices/{n['id']}/recall")
    assert recalled["read_by"] == ["m1", "m2"]
    for ws, member in ((m1, "m1"), (m2, "m2")):
        data = (await ws.messages(f"member:{member}", 1))[0]["data"]
        assert data["kind"] == "recall" and data["notice"]["id"] == n["id"]
    refused = await m2.call("receipt", notice=n["id"], state="acked")
    assert refused["error"]["code"] == 113
    inbox = await nhub.ok("GET", "/api/notices?member=m2")
    assert inbox["notices"][0]["recalled"] is True
    later = await open_ws(nhub.hub.ws_url, connect=False)
    assert (await later.call("connect", token=nhub.token("staff1")))["unsigned"] == []
    audit = await nhub.ok("GET", f"/api/notices/{n['id']}/audit")
    assert audit["ok"]


async def test_audit_detects_an_altered_row(nhub: DomainHub) -> None:
    n = await send(nhub)
    for member in ("m1", "m2"):
        ws = await open_ws(nhub.hub.ws_url, nhub.token(member))
        await ws.ok("receipt", notice=n["id"], state="acked")
    assert (await nhub.ok("GET", f"/api/notices/{n['id']}/audit"))["ok"]
    db = nhub.hub.runtime.store.database
    await db.execute(
        "UPDATE ntc_events SET ts = ts - 86400000 WHERE notice = ? AND member = ?", n["id"], "m2"
    )
    audit = await nhub.ok("GET", f"/api/notices/{n['id']}/audit")
    assert not audit["ok"]
    assert any("修改" in p["problem"] for p in audit["problems"])
    # a forged ack in the projection alone is caught as well
    await db.execute(
        "UPDATE ntc_events SET ts = ts + 86400000 WHERE notice = ? AND member = ?", n["id"], "m2"
    )
    await db.execute(
        "UPDATE ntc_receipts SET rank = 3 WHERE notice = ? AND member = ?", n["id"], "staff1"
    )
    audit = await nhub.ok("GET", f"/api/notices/{n['id']}/audit")
    assert [p.get("member") for p in audit["problems"]] == ["staff1"]


async def test_classified_refused_and_logged(nhub: DomainHub) -> None:
    for level, extra in (
        ("机密", {"classification": "机密"}),
        ("绝密", {"attachments": [{**NOTICE["attachments"][0], "classification": "绝密"}]}),  # type: ignore[index]
        ("秘密", {"classification": "secret"}),
    ):
        status, body = await nhub.api("POST", "/api/notices", {**NOTICE, **extra})
        assert status == 403, body
        assert body["error"]["code"] == 103 and level in body["error"]["message"]
    assert (await nhub.api("POST", "/api/notices", {**NOTICE, "classification": "甲级"}))[0] == 400
    refusals = await nhub.ok("GET", "/api/notices/refusals")
    assert sorted(r["classification"] for r in refusals["refusals"]) == sorted(
        ["秘密", "机密", "绝密"]
    )
    assert (await nhub.ok("GET", "/api/notices"))["notices"] == []
    await send(nhub, classification="公开")


async def test_csv_sheet_and_filters(nhub: DomainHub) -> None:
    n = await send(nhub)
    ws = await open_ws(nhub.hub.ws_url, nhub.token("m1"))
    await ws.ok("receipt", notice=n["id"], state="acked")
    page = await nhub.ok("GET", f"/api/notices/{n['id']}/receipts?state=unsigned&limit=2")
    assert page["total"] == 3 and len(page["receipts"]) == 2
    page2 = await nhub.ok("GET", f"/api/notices/{n['id']}/receipts?state=unsigned&limit=2&offset=2")
    assert len(page2["receipts"]) == 1
    b1 = await nhub.ok("GET", f"/api/notices/{n['id']}/receipts?unit=b1")
    assert sorted(r["member"] for r in b1["receipts"]) == ["flow1", "m1", "m2"]
    acked = await nhub.ok("GET", f"/api/notices/{n['id']}/receipts?state=acked")
    assert [r["member"] for r in acked["receipts"]] == ["m1"]
    import aiohttp

    async with (
        aiohttp.ClientSession(headers=nhub.hub.api_headers) as s,
        s.get(f"{nhub.hub.http_url}/api/notices/{n['id']}/receipts?format=csv") as r,
    ):
        assert r.status == 200 and r.content_type == "text/csv"
        text = (await r.read()).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0][:5] == ["成员编号", "姓名", "单位编号", "单位", "状态"]
        by_id = {row[0]: row for row in rows[1:]}
        assert by_id["m1"][4] == "已签收" and by_id["m1"][8] == "客户端"
        assert by_id["m2"][1] == "赵磊" and by_id["m2"][4] == "已发送"
    async with (
        aiohttp.ClientSession(headers=nhub.hub.api_headers) as s,
        s.get(f"{nhub.hub.http_url}/api/notices/{n['id']}/sheet") as r,
    ):
        html = await r.text()
        assert r.status == 200 and r.content_type == "text/html"
        assert "通知回执单" in html and "@media print" in html and "王芳" in html
        assert "应签收 4 人，已签收 1 人" in html
        assert_strict_page(r.headers, html)
        assert 'id="print"' in html and "onclick" not in html  # inline handlers would be blocked
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    async with (
        aiohttp.ClientSession(headers=nhub.hub.api_headers) as s,
        s.get(f"{nhub.hub.http_url}/api/notices/{n['id']}/receipts?format=csv") as r,
    ):
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def assert_strict_page(headers: Mapping[str, str], html: str) -> None:
    """A strict CSP that allows exactly the page's inline style and script elements
    (by hash, nothing else), no sniffing, no referrer, no framing."""
    policy = {}
    for directive in headers["Content-Security-Policy"].split(";"):
        name, _, value = directive.strip().partition(" ")
        policy[name] = value
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'" and policy["img-src"] == "'none'"
    for tag in ("style", "script"):
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
        want = " ".join(inline_hash(b) for b in blocks) or "'none'"
        assert policy[f"{tag}-src"] == want, (tag, policy)
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


async def test_inbox_and_auth(nhub: DomainHub) -> None:
    n = await send(nhub)
    import aiohttp

    async with (
        aiohttp.ClientSession() as s,
        s.get(
            f"{nhub.hub.http_url}/api/inbox",
            headers={"Authorization": f"Bearer {nhub.token('m1')}"},
        ) as r,
    ):
        body = await r.json()
        assert body["notices"][0]["id"] == n["id"] and body["notices"][0]["state"] == "sent"
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{nhub.hub.http_url}/api/notices", json=NOTICE) as r,
    ):
        assert r.status == 401
    token = nhub.token("admin1", role="admin")
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{nhub.hub.http_url}/api/notices",
            json=NOTICE,
            headers={"Authorization": f"Bearer {token}"},
        ) as r,
    ):
        assert r.status == 201 and (await r.json())["notice"]["from"] == "admin1"


async def test_flowing_member_counts_under_the_home_branch(nhub: DomainHub) -> None:
    """flow2's home branch is b1 (安园, under s1); they are attached to b2 under the
    other street s2. A notice to the home street reaches them: the home branch's
    roll-up and its receipts filter must show them, and the district, above both
    streets, counts them once."""
    await nhub.ok(
        "POST",
        "/api/members",
        {"id": "flow2", "name": "陈静", "unit": "b1", "phone": "１３９－１２３４－０００９"},
    )
    await nhub.ok("POST", "/api/members/flow2/flowing", {"unit": "b2", "location": "上海市"})
    n = await send(nhub, audience={"units": ["d"], "subunits": True})
    ws = await open_ws(nhub.hub.ws_url, nhub.token("flow2"))
    await ws.ok("receipt", notice=n["id"], state="acked")
    info = await nhub.ok("GET", f"/api/notices/{n['id']}")
    units = {u["unit"]: u for u in info["units"]}
    everyone = info["counts"]
    assert sum(everyone.values()) == 7  # admin1 staff1 m1 m2 m3 flow1 flow2
    assert units["d"]["total"] == 7 and units["d"]["via_home"] == 0  # no double count
    assert units["d"]["signed"] == 1
    # the home chain b1 → c1 → s1 sees flow1 and flow2, marked as counted via home
    assert (units["b1"]["total"], units["b1"]["via_home"]) == (4, 2)  # m1 m2 flow1 flow2
    assert units["b1"]["signed"] == 1 and units["b1"]["unsigned"] == 3
    assert (units["c1"]["total"], units["c1"]["via_home"]) == (4, 2)
    assert (units["s1"]["total"], units["s1"]["via_home"]) == (5, 2)  # + staff1
    # the chain where they are attached counts them normally
    assert (units["b2"]["total"], units["b2"]["via_home"]) == (3, 0)  # m3 flow1 flow2
    assert (units["s2"]["total"], units["s2"]["via_home"]) == (3, 0)
    # the receipts filter agrees with the roll-up, and says which rows came via home
    page = await nhub.ok("GET", f"/api/notices/{n['id']}/receipts?unit=s1")
    assert page["total"] == 5
    via = {r["member"]: r["via_home"] for r in page["receipts"]}
    assert via == {"staff1": False, "m1": False, "m2": False, "flow1": True, "flow2": True}
    signed = await nhub.ok("GET", f"/api/notices/{n['id']}/receipts?unit=b1&state=acked")
    assert [r["member"] for r in signed["receipts"]] == ["flow2"] and signed["total"] == 1
    attached = await nhub.ok("GET", f"/api/notices/{n['id']}/receipts?unit=b2")
    assert {r["member"]: r["via_home"] for r in attached["receipts"]} == {
        "flow1": False,
        "flow2": False,
        "m3": False,
    }
    status, body = await nhub.api("GET", f"/api/notices/{n['id']}/receipts?limit=１０")
    assert status == 400 and body["error"]["code"] == 107
    # the printable sheet of the home branch lists them too
    import aiohttp

    async with (
        aiohttp.ClientSession(headers=nhub.hub.api_headers) as s,
        s.get(f"{nhub.hub.http_url}/api/notices/{n['id']}/sheet?unit=b1") as r,
    ):
        sheet = await r.text()
    assert r.status == 200 and "陈静" in sheet and "刘洋" in sheet


async def test_fullwidth_ids_in_audience_and_unit_filter(nhub: DomainHub) -> None:
    n = await send(nhub, audience={"units": ["ｂ１"], "members": ["ｍ３"]})
    assert n["audience"]["units"] == ["b1"] and n["audience"]["members"] == ["m3"]
    assert n["recipients"] == 4  # m1 m2 flow1 (home b1), m3
    page = await nhub.ok("GET", f"/api/notices/{n['id']}/receipts?unit=%EF%BD%82%EF%BC%91")
    assert page["total"] == 3, page  # ?unit=ｂ１


async def _rollup(h: DomainHub, notice: str) -> dict[str, tuple[int, int]]:
    info = await h.ok("GET", f"/api/notices/{notice}")
    return {u["unit"]: (u["total"], u["via_home"]) for u in info["units"]}


async def _unit_pages(h: DomainHub, notice: str) -> dict[str, tuple[int, list[str]]]:
    out = {}
    for unit in ("d", "s1", "c1", "b1", "s2", "b2"):
        page = await h.ok("GET", f"/api/notices/{notice}/receipts?unit={unit}")
        via = sorted(r["member"] for r in page["receipts"] if r["via_home"])
        out[unit] = (page["total"], via)
    return out


async def test_rollup_of_a_sent_notice_does_not_follow_later_directory_changes(
    nhub: DomainHub,
) -> None:
    """The home unit is saved on the receipt at send time: marking flow1 back (or
    moving their home) afterwards leaves that notice's numbers as they were."""
    n = await send(nhub, audience={"units": ["d"], "subunits": True})
    rollup, pages = await _rollup(nhub, n["id"]), await _unit_pages(nhub, n["id"])
    assert rollup["b1"] == (3, 1) and pages["b1"] == (3, ["flow1"])  # m1 m2 + flow1 via home
    await nhub.ok("DELETE", "/api/members/flow1/flowing")  # back home to b1
    await nhub.ok("POST", "/api/members/m3/flowing", {"unit": "b1", "home_unit": "b2"})
    assert await _rollup(nhub, n["id"]) == rollup
    assert await _unit_pages(nhub, n["id"]) == pages
    page = await nhub.ok("GET", f"/api/notices/{n['id']}/receipts?unit=b2")
    flow1 = next(r for r in page["receipts"] if r["member"] == "flow1")
    assert flow1["unit"] == "b2" and flow1["home_unit"] == "b1"
    # a notice sent now sees the directory as it is now
    later = await send(nhub, audience={"units": ["d"], "subunits": True})
    now = await _rollup(nhub, later["id"])
    assert now["b1"] == (4, 0) and now["b2"] == (1, 1)  # m1 m2 flow1 m3 | m3 via home


async def test_migration_fills_the_home_unit_of_receipts_sent_before(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    """Receipts stored by the previous schema (no home unit column) get the home unit
    the directory has when the hub is upgraded."""
    async with notice_hub(tmp_path / "data", database_url, clock) as h:
        await load_org(h)
        n = await send(h, audience={"units": ["d"], "subunits": True})
        expected = await _rollup(h, n["id"])
        db = h.hub.runtime.store.database
        # back to the previous version's table: the step that added the column undone
        await db.execute("DROP INDEX ntc_receipts_home_unit")
        await db.execute("ALTER TABLE ntc_receipts DROP COLUMN home_unit")
        await db.execute("DELETE FROM hub_migrations WHERE component = 'notices' AND version = 2")
    async with notice_hub(tmp_path / "data", database_url, clock) as h:
        assert await _rollup(h, n["id"]) == expected
        row = await h.hub.runtime.store.database.fetchrow(
            "SELECT unit, home_unit FROM ntc_receipts WHERE notice = ? AND member = 'flow1'",
            n["id"],
        )
        assert (row["unit"], row["home_unit"]) == ("b2", "b1")
        nobody = await h.hub.runtime.store.database.fetchval(
            "SELECT COUNT(*) FROM ntc_receipts WHERE notice = ? AND member <> 'flow1' "
            "AND home_unit IS NOT NULL",
            n["id"],
        )
        assert nobody == 0


async def test_rollup_when_the_home_unit_is_above_or_below_the_attached_one(
    nhub: DomainHub,
) -> None:
    """fa's home s1 is an ancestor of where they are attached (b1), fb's home b1 is a
    descendant of where they are attached (s1): each is counted once on the shared
    chain, and every unit's receipts page agrees with its roll-up row."""
    await nhub.ok("POST", "/api/members", {"id": "fa", "name": "甲", "unit": "s1"})
    await nhub.ok("POST", "/api/members/fa/flowing", {"unit": "b1"})
    await nhub.ok("POST", "/api/members", {"id": "fb", "name": "乙", "unit": "b1"})
    await nhub.ok("POST", "/api/members/fb/flowing", {"unit": "s1"})
    n = await send(nhub, audience={"units": ["d"], "subunits": True})
    rollup = await _rollup(nhub, n["id"])
    assert rollup["d"] == (8, 0)  # admin1 staff1 m1 m2 m3 flow1 fa fb, once each
    assert rollup["s1"] == (6, 1)  # staff1 m1 m2 fa fb + flow1 via home
    assert rollup["c1"] == (5, 2) and rollup["b1"] == (5, 2)  # m1 m2 fa + flow1 fb via home
    pages = await _unit_pages(nhub, n["id"])
    for unit, (total, _via) in rollup.items():
        assert pages[unit][0] == total, unit
    assert pages["b1"][1] == ["fb", "flow1"] and pages["s1"][1] == ["flow1"]
