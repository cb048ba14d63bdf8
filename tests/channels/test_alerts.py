"""Alerts with an escalation ladder through the providers' stand-ins (real HTTP,
real signatures, delivery reports pushed back), with a controlled clock: only the
right people escalate, acks stop the ladder, a restart mid-ladder loses and
repeats no rung, two schedulers on one PostgreSQL run each rung once; SMS-reply
and link acks; quiet hours and the daily SMS cap."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.standin import Standins, start_standins
from tests.channels.conftest import DomainHub, FakeClock, load_org, notice_hub
from tests.support.hubs import wait_until
from tests.support.ws import open_ws

FLOWING = [
    {
        "id": "fa",
        "name": "甲",
        "unit": "b2",
        "flowing": True,
        "phone": "13900000001",
        "wechat": "oFA_openid_0001",
    },
    {
        "id": "fb",
        "name": "乙",
        "unit": "b2",
        "flowing": True,
        "phone": "13900000002",
        "wechat": "oFB_openid_0002",
    },
    {"id": "fc", "name": "丙", "unit": "b2", "flowing": True, "phone": "13900000003"},
]
LADDER = [{"after": "30s", "via": "wechat"}, {"after": "5m", "via": "sms"}]
ALERT = {
    "title": "汛期安全紧急提醒",
    "body": "请注意防汛安全，收到请签收。",
    "audience": {"members": ["fa", "fb", "fc"]},
    "escalation": LADDER,
}
# 2025-10-09 16:53:20 China time (UTC+8); NIGHT is 23:00 that day
NIGHT = 1_760_022_000.0


@pytest.fixture
async def standins() -> AsyncIterator[Standins]:
    s = await start_standins()
    try:
        yield s
    finally:
        await s.close()


@contextlib.asynccontextmanager
async def alert_hub(
    data_dir: Path, database_url: str, clock: FakeClock, standins: Standins, load: bool = True
) -> AsyncIterator[DomainHub]:
    async with notice_hub(data_dir, database_url, clock, adapters_env=standins.env()) as h:
        standins.send_reports_to(f"{h.hub.http_url}/callbacks")
        if load:
            await load_org(h)
            for m in FLOWING:
                await h.ok("POST", "/api/members", m)
        try:
            yield h
        finally:
            await standins.wait_pushes()  # reports reach this hub, not a stopped one


def sms_to(standins: Standins) -> list[str]:
    return [s["PhoneNumber"] for s in standins.aliyun.sent]


def wechat_to(standins: Standins) -> list[str]:
    return [str(s["touser"]) for s in standins.wechat.sent]


async def post_alert(h: DomainHub, **extra: Any) -> dict[str, Any]:
    status, body = await h.api("POST", "/api/alerts", {**ALERT, **extra})
    assert status == 201, body
    notice: dict[str, Any] = body["notice"]
    return notice


async def receipt_of(h: DomainHub, notice: str, member: str) -> dict[str, Any]:
    page = await h.ok("GET", f"/api/notices/{notice}/receipts")
    return next(r for r in page["receipts"] if r["member"] == member)


async def test_ladder_escalates_only_the_right_people_and_stops_on_ack(
    tmp_path: Path, database_url: str, clock: FakeClock, standins: Standins
) -> None:
    async with alert_hub(tmp_path / "d", database_url, clock, standins) as h:
        fa = await open_ws(h.hub.ws_url, h.token("fa"))
        n = await post_alert(h)
        assert n["urgency"] == "urgent" and n["kind"] == "alert"
        msg = (await fa.messages("member:fa", 1))[0]["data"]
        assert msg["kind"] == "alert" and msg["notice"]["id"] == n["id"]
        await fa.ok("receipt", notice=n["id"], state="acked")
        esc = h.ext.escalator
        clock.advance(29)
        assert await esc.tick() == 0 and wechat_to(standins) == []
        clock.advance(2)
        assert await esc.tick() == 1
        # fa acked; fc has no WeChat id (skipped, recorded); fb gets the WeChat message
        assert wechat_to(standins) == ["oFB_openid_0002"]
        sent = standins.wechat.sent[0]
        assert sent["data"]["thing1"]["value"].startswith("【紧急】汛期安全")
        # the delivery report comes back and moves fb's receipt to delivered
        await wait_until(lambda: receipt_of(h, n["id"], "fb"), what="receipt")
        await wait_until(lambda: _state(h, n["id"], "fb", "delivered"), what="report → delivered")
        # fb acks through the signed link in the WeChat message
        url = str(sent["url"])
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/ack/[\w-]+\.[\w-]+", url)
        async with aiohttp.ClientSession() as s:
            async with s.get(url) as r:
                page = await r.text()
                assert r.status == 200 and "签收" in page and "<form" in page
            async with s.post(url) as r:
                assert r.status == 200 and "签收成功" in await r.text()
            async with s.post(url) as r:
                assert "无需重复签收" in await r.text()
            async with s.get(url[:-3] + "xyz") as r:
                assert r.status == 403
        fb = await receipt_of(h, n["id"], "fb")
        assert fb["state"] == "acked" and fb["channel"] == "link"
        clock.advance(300)
        assert await esc.tick() == 1
        assert sms_to(standins) == ["13900000003"]  # only fc is still unsigned
        assert "回复1签收" in standins.aliyun.sent[0]["TemplateParam"]
        # fc answers the SMS with “1”
        uplink = [
            {
                "phone_number": "13900000003",
                "content": "1",
                "send_time": "2025-10-09 17:00:00",
                "sign_name": standins.aliyun.sign_name,
                "dest_code": "",
                "sequence_id": 7,
            }
        ]
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{h.hub.http_url}/callbacks/aliyun-sms/uplink", json=uplink) as r,
        ):
            assert r.status == 200
        fc = await receipt_of(h, n["id"], "fc")
        assert fc["state"] == "acked" and fc["channel"] == "sms-reply"
        clock.advance(3600)
        assert await esc.tick() == 0
        view = await h.ok("GET", f"/api/alerts/{n['id']}/escalation")
        statuses = sorted((a["member"], a["rung"], a["status"]) for a in view["attempts"])
        assert ("fc", 0, "skipped") in statuses and ("fb", 0, "delivered") in statuses
        assert [(a[0], a[1]) for a in statuses].count(("fc", 1)) == 1
        audit = await h.ok("GET", f"/api/notices/{n['id']}/audit")
        assert audit["ok"], audit
        kinds = await h.hub.runtime.store.database.fetch(
            "SELECT kind, channel FROM ntc_events WHERE notice = ? ORDER BY seq", n["id"]
        )
        got = [(k["kind"], k["channel"]) for k in kinds]
        assert ("report", "wechat") in got and ("state", "sms-reply") in got
        assert ("state", "link") in got and ("attempt", "sms") in got


async def _state(h: DomainHub, notice: str, member: str, state: str) -> bool:
    return (await receipt_of(h, notice, member))["state"] == state


async def test_restart_mid_ladder_loses_and_repeats_no_rung(
    tmp_path: Path, database_url: str, clock: FakeClock, standins: Standins
) -> None:
    async with alert_hub(tmp_path / "d", database_url, clock, standins) as h:
        n = await post_alert(
            h,
            escalate_until="delivered",
            escalation=[
                {"after": "30s", "via": "sms"},
                {"after": "5m", "via": "wechat"},
                {"after": "10m", "via": "sms"},
            ],
        )
        clock.advance(31)
        assert await h.ext.escalator.tick() == 1
        assert sorted(sms_to(standins)) == ["13900000001", "13900000002", "13900000003"]
        await standins.wait_pushes()
    # the reports were pushed while the hub ran; restart on the same database
    async with alert_hub(tmp_path / "d", database_url, clock, standins, load=False) as h2:
        esc = h2.ext.escalator
        assert await esc.tick() == 0  # nothing due, nothing repeated
        db = h2.hub.runtime.store.database
        # put fa back to "sent" as if its report never came, then make rung 1 look
        # claimed by a process that crashed after sending to fb
        await db.execute(
            "UPDATE ntc_receipts SET rank = 0 WHERE notice = ? AND member <> 'fc'", n["id"]
        )
        clock.advance(300)
        now = int(clock() * 1000)
        await db.execute(
            "UPDATE alr_rungs SET owner = 'dead', lease_until = ? WHERE notice = ? AND rung = 1",
            now + 1000,
            n["id"],
        )
        await db.execute(
            "INSERT INTO ntc_attempts (id, notice, member, rung, via, status, created_at) "
            "VALUES ('tdead', ?, 'fb', 1, 'wechat', 'sending', ?)",
            n["id"],
            now,
        )
        assert await esc.tick() == 0  # the dead process's lease still holds
        clock.advance(2)
        assert await esc.tick() == 1
        assert wechat_to(standins) == ["oFA_openid_0001"]  # fb had it already, fc has no WeChat
        # the dead process's send to fb is resolved, not left "sending" nor resent
        dead = await db.fetchrow("SELECT status FROM ntc_attempts WHERE id = 'tdead'")
        assert dead is not None and dead["status"] == "unknown"
        events = await db.fetch(
            "SELECT member, detail FROM ntc_events WHERE notice = ? AND kind = 'attempt'", n["id"]
        )
        assert any(e["member"] == "fb" and "interrupted" in str(e["detail"]) for e in events)
        await wait_until(lambda: _state(h2, n["id"], "fa", "delivered"), what="WeChat report")
        clock.advance(600)
        assert await esc.tick() == 1
        # fa was reached by WeChat (its report moved it to delivered), fc by the first SMS
        assert sms_to(standins)[3:] == ["13900000002"]
        assert await esc.tick() == 0


async def test_two_schedulers_on_one_postgresql_run_each_rung_once(
    tmp_path: Path, database_url: str, clock: FakeClock, standins: Standins
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes share a database only on PostgreSQL")
    async with (
        alert_hub(tmp_path / "a", database_url, clock, standins) as h1,
        alert_hub(tmp_path / "b", database_url, clock, standins, load=False) as h2,
    ):
        notices = [await post_alert(h1, idem=f"k{i}") for i in range(4)]
        clock.advance(31)
        ran = await asyncio.gather(h1.ext.escalator.tick(), h2.ext.escalator.tick())
        assert sum(ran) == 4
        clock.advance(300)
        ran = await asyncio.gather(h1.ext.escalator.tick(), h2.ext.escalator.tick())
        assert sum(ran) == 4
        rows = await h1.hub.runtime.store.database.fetch(
            "SELECT notice, member, rung, COUNT(*) AS c FROM ntc_attempts GROUP BY notice, "
            "member, rung"
        )
        assert len(rows) == 4 * 3 * 2 and all(r["c"] == 1 for r in rows)
        assert len(wechat_to(standins)) == 4 * 2 and len(sms_to(standins)) == 4 * 3
        assert {n["id"] for n in notices} == {r["notice"] for r in rows}


async def test_quiet_hours_defer_sms_unless_urgent(
    tmp_path: Path, database_url: str, standins: Standins
) -> None:
    clock = FakeClock(NIGHT)
    async with alert_hub(tmp_path / "d", database_url, clock, standins) as h:
        prefs = await h.ok("GET", "/api/alerts/prefs/fa")
        assert prefs["quiet_hours"] == {"start": "22:00", "end": "07:00"}
        await h.ok("PUT", "/api/alerts/prefs/fc", {"quiet_hours": None})
        esc = h.ext.escalator
        calm = await post_alert(h, urgency="normal", escalation=[{"after": "0s", "via": "sms"}])
        assert await esc.tick() == 1
        assert sms_to(standins) == ["13900000003"]  # fc has no quiet hours
        urgent = await post_alert(h, escalation=[{"after": "0s", "via": "sms"}])
        assert await esc.tick() == 1
        assert len(sms_to(standins)) == 4  # urgent: everyone at once
        clock.advance(7 * 3600)  # 06:00: still quiet
        assert await esc.tick() == 0
        clock.advance(3600 + 60)  # 07:01
        assert await esc.tick() == 2  # fa and fb, deferred
        assert sorted(sms_to(standins)[4:]) == ["13900000001", "13900000002"]
        assert await esc.tick() == 0
        view = await h.ok("GET", f"/api/alerts/{calm['id']}/escalation")
        assert sorted(a["status"] for a in view["attempts"])[:2] == ["deferred", "deferred"]
        assert urgent["urgency"] == "urgent"


async def test_daily_sms_cap(
    tmp_path: Path, database_url: str, clock: FakeClock, standins: Standins
) -> None:
    async with alert_hub(tmp_path / "d", database_url, clock, standins) as h:
        await h.ok("PUT", "/api/alerts/prefs/fa", {"sms_daily_cap": 1})
        esc = h.ext.escalator
        sms = [{"after": "0s", "via": "sms"}]
        a1 = await post_alert(h, audience={"members": ["fa"]}, escalation=sms)
        a2 = await post_alert(h, audience={"members": ["fa"]}, escalation=sms)
        assert await esc.tick() == 2
        assert sms_to(standins) == ["13900000001"]
        view = await h.ok("GET", f"/api/alerts/{a2['id']}/escalation")
        assert [a["status"] for a in view["attempts"]] == ["capped"]
        clock.advance(86400)  # a new day
        a3 = await post_alert(h, audience={"members": ["fa"]}, escalation=sms)
        assert await esc.tick() == 1
        assert len(sms_to(standins)) == 2
        assert a1["id"] != a3["id"]


async def test_recall_stops_the_ladder(
    tmp_path: Path, database_url: str, clock: FakeClock, standins: Standins
) -> None:
    async with alert_hub(tmp_path / "d", database_url, clock, standins) as h:
        n = await post_alert(h)
        await h.ok("POST", f"/api/notices/{n['id']}/recall")
        clock.advance(3600)
        assert await h.ext.escalator.tick() == 2
        assert wechat_to(standins) == [] and sms_to(standins) == []
