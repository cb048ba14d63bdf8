"""Alerts with an escalation ladder through the providers' stand-ins (real HTTP,
real signatures, delivery reports pushed back), with a controlled clock: only the
right people escalate, acks stop the ladder, a restart mid-ladder loses and
repeats no rung, two schedulers on one PostgreSQL run each rung once; SMS-reply
and link acks; quiet hours and the daily SMS cap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from adapters.standin import Standins
from channels.alerts.replies import parse_reply
from tests.channels.conftest import DomainHub, FakeClock, load_org, notice_hub
from tests.channels.test_notices import assert_strict_page
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
PREFIX = "/callbacks/" + "s3cr3t-" * 3


@contextlib.asynccontextmanager
async def alert_hub(
    data_dir: Path, database_url: str, clock: FakeClock, standins: Standins, load: bool = True
) -> AsyncIterator[DomainHub]:
    env = {**standins.env(), "HUB_CALLBACK_PREFIX": PREFIX}
    async with notice_hub(data_dir, database_url, clock, adapters_env=env) as h:
        standins.send_reports_to(f"{h.hub.http_url}{PREFIX}")
        if load:
            await load_org(h)
            for m in FLOWING:
                await h.ok("POST", "/api/members", m)
        try:
            yield h
        finally:
            await standins.wait_pushes()  # reports reach this hub, not a stopped one


def code_in(sent: dict[str, str]) -> str:
    """The reply code an SMS asks for (and check the text fits the template variable)."""
    text = str(orjson.loads(sent["TemplateParam"])["content"])
    found = re.search(r"请回复1 (\d{4})签收$", text)
    assert found and len(text) <= 35, text
    return found.group(1)


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
        code = code_in(standins.aliyun.sent[0])
        # fc answers the SMS with “1 <code>” (Alibaba pushes the uplink to the hub)
        assert await standins.aliyun.reply("13900000003", f"1 {code}") == 200
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


async def test_opening_the_ack_link_records_read_and_the_button_acks(
    tmp_path: Path, database_url: str, clock: FakeClock, standins: Standins
) -> None:
    async with alert_hub(tmp_path / "d", database_url, clock, standins) as h:
        n = await post_alert(
            h, audience={"members": ["fa"]}, escalation=[{"after": "0s", "via": "wechat"}]
        )
        assert await h.ext.escalator.tick() == 1
        url = str(standins.wechat.sent[0]["url"])
        await wait_until(lambda: _state(h, n["id"], "fa", "delivered"), what="report → delivered")
        async with aiohttp.ClientSession() as s:
            async with s.head(url) as r:  # a HEAD (link preview) reads nothing
                assert r.status == 200
            assert (await receipt_of(h, n["id"], "fa"))["state"] == "delivered"
            async with s.get(url) as r:
                html = await r.text()
                assert r.status == 200 and "<form" in html
                assert_strict_page(r.headers, html)
                assert "form-action 'self'" in r.headers["Content-Security-Policy"]
                assert r.headers["Cache-Control"] == "no-store"
            fa = await receipt_of(h, n["id"], "fa")
            assert fa["state"] == "read" and fa["channel"] == "link"
            async with s.get(url) as r:  # opened again: still read, one event
                assert r.status == 200
            async with s.post(url) as r:
                assert r.status == 200 and "签收成功" in await r.text()
                assert_strict_page(r.headers, await r.text())
            async with s.get(url) as r:  # after the ack the page says so and reads nothing
                assert "无需重复签收" in await r.text()
            async with s.get(url[:-3] + "xyz") as r:
                assert r.status == 403 and r.headers["Referrer-Policy"] == "no-referrer"
        fa = await receipt_of(h, n["id"], "fa")
        assert fa["state"] == "acked" and fa["channel"] == "link"
        rows = await h.hub.runtime.store.database.fetch(
            "SELECT state, channel FROM ntc_events WHERE notice = ? AND member = 'fa' "
            "AND kind = 'state' ORDER BY seq",
            n["id"],
        )
        assert [(r["state"], r["channel"]) for r in rows] == [
            ("delivered", "wechat"),
            ("read", "link"),
            ("acked", "link"),
        ]


async def _post(url: str, body: Any) -> int:
    async with aiohttp.ClientSession() as s, s.post(url, json=body) as r:
        await r.read()
        return r.status


async def _replies(h: DomainHub) -> list[tuple[str, str | None]]:
    rows = await h.hub.runtime.store.database.fetch("SELECT outcome, notice FROM alr_sms_replies")
    return [(r["outcome"], r["notice"]) for r in rows]


async def test_forged_sms_reply_acks_nothing_and_the_code_picks_the_notice(
    tmp_path: Path, database_url: str, clock: FakeClock, standins: Standins
) -> None:
    async with alert_hub(tmp_path / "d", database_url, clock, standins) as h:
        sms = [{"after": "0s", "via": "sms"}]
        first = await post_alert(h, audience={"members": ["fc"]}, escalation=sms, idem="a")
        clock.advance(60)
        second = await post_alert(
            h, title="第二个紧急通知", audience={"members": ["fc"]}, escalation=sms, idem="b"
        )
        assert await h.ext.escalator.tick() == 2
        code_a, code_b = (code_in(sent) for sent in standins.aliyun.sent)
        assert code_a != code_b  # unique among the member's open notices
        base = f"{h.hub.http_url}{PREFIX}"
        # the old forgery: the member's number and “1”, no code — through both providers
        uplink = [{"phone_number": "13900000003", "content": "1", "send_time": ""}]
        assert await _post(f"{base}/aliyun-sms/uplink", uplink) == 200
        reply = {"mobile": "13900000003", "nationcode": "86", "text": "签收", "time": 1}
        assert await _post(f"{base}/tencent-sms/reply", reply) == 200
        # a code that is not this member's, and the right code from another number
        wrong = "1000" if "1000" not in (code_a, code_b) else "1001"
        assert await standins.tencent.reply("+8613900000003", f"1 {wrong}") == 200
        assert await standins.aliyun.reply("13900000002", f"1 {code_a}") == 200
        for n in (first, second):
            assert (await receipt_of(h, n["id"], "fc"))["state"] != "acked"
        # the right code acks exactly the notice it was sent with (the older one)
        assert await standins.tencent.reply("+8613900000003", f"１ {code_a}。") == 200
        assert (await receipt_of(h, first["id"], "fc"))["state"] == "acked"
        assert (await receipt_of(h, second["id"], "fc"))["state"] != "acked"
        assert await standins.aliyun.reply("13900000003", f"{code_b}签收") == 200
        got = await receipt_of(h, second["id"], "fc")
        assert got["state"] == "acked" and got["channel"] == "sms-reply"
        assert await standins.aliyun.reply("13900000003", f"1 {code_b}") == 200  # repeated
        assert sorted(await _replies(h), key=str) == sorted(
            [
                ("no_code", None),
                ("no_code", None),
                ("wrong_code", None),
                ("wrong_code", None),
                ("acked", first["id"]),
                ("acked", second["id"]),
                ("already", None),
            ],
            key=str,
        )
        audit = await h.ok("GET", f"/api/notices/{first['id']}/audit")
        assert audit["ok"], audit


async def test_wrong_reply_codes_are_throttled_per_number(
    tmp_path: Path,
    database_url: str,
    clock: FakeClock,
    standins: Standins,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with alert_hub(tmp_path / "d", database_url, clock, standins) as h:
        sms = [{"after": "0s", "via": "sms"}]
        n = await post_alert(h, audience={"members": ["fc"]}, escalation=sms)
        assert await h.ext.escalator.tick() == 1
        code = code_in(standins.aliyun.sent[0])
        others = [c for c in ("1111", "2222", "3333", "4444", "5555", "6666") if c != code][:5]
        for guess in others:  # five wrong guesses within the hour
            assert await standins.aliyun.reply("13900000003", f"1 {guess}") == 200
        assert await standins.aliyun.reply("13900000003", f"1 {code}") == 200
        assert (await receipt_of(h, n["id"], "fc"))["state"] != "acked"  # ignored meanwhile
        outcomes = sorted(o for o, _ in await _replies(h))
        assert outcomes == ["throttled"] + ["wrong_code"] * 5
        assert "139****0003" in caplog.text and "13900000003" not in caplog.text
        clock.advance(3601)  # the window has passed
        assert await standins.aliyun.reply("13900000003", f"1 {code}") == 200
        assert (await receipt_of(h, n["id"], "fc"))["state"] == "acked"


async def test_provider_error_that_echoes_the_number_and_secret_is_masked_in_the_log(
    tmp_path: Path,
    database_url: str,
    clock: FakeClock,
    standins: Standins,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with alert_hub(tmp_path / "d", database_url, clock, standins) as h:
        standins.aliyun.faults.inject("echo_input")
        n = await post_alert(
            h, audience={"members": ["fc"]}, escalation=[{"after": "0s", "via": "sms"}]
        )
        assert await h.ext.escalator.tick() == 1
        view = await h.ok("GET", f"/api/alerts/{n['id']}/escalation")
        assert [a["status"] for a in view["attempts"]] == ["failed"]
    logged = caplog.text
    assert "escalation sms to fc" in logged and "isv.INVALID_PARAMETERS" in logged
    assert "139****0003" in logged
    for leaked in ("13900000003", standins.aliyun.access_key_secret):
        assert leaked not in logged, leaked


@pytest.mark.parametrize(
    "bad_time", [" 1:00", "+1:00", "٢٢:٠٠", "２２:００", "1:000", "24:00", "22:60"]
)
async def test_quiet_hours_need_ascii_hh_mm(
    tmp_path: Path, database_url: str, standins: Standins, bad_time: str
) -> None:
    async with alert_hub(tmp_path / "q", database_url, FakeClock(NIGHT), standins) as h:
        body = {"quiet_hours": {"start": bad_time, "end": "07:00"}}
        status, resp = await h.api("PUT", "/api/alerts/prefs/fa", body)
        assert status == 400 and resp["error"]["code"] == 107, resp
        assert "HH:MM" in resp["error"]["message"]
        prefs = await h.ok("GET", "/api/alerts/prefs/fa")
        assert prefs["quiet_hours"] == {"start": "22:00", "end": "07:00"}  # unchanged


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1 4827", "4827"),
        ("14827", "4827"),
        ("4827", "4827"),
        ("签收4827", "4827"),
        ("１ ４８２７。", "4827"),
        ("回复1 4827签收", "4827"),  # the SMS's own prompt typed back
        ("签收1 4827", "4827"),
        ("收到，1 4827", "4827"),
        ("1 4827 收到", "4827"),
    ],
)
def test_reply_texts_that_quote_the_code(text: str, code: str) -> None:
    assert parse_reply(text) == (True, code)


@pytest.mark.parametrize("text", ["1", "签收", "收到", "确认"])
def test_reply_texts_without_a_code_ack_nothing(text: str) -> None:
    assert parse_reply(text) == (True, None)


@pytest.mark.parametrize("text", ["你好", "14827x", "1 48270", "退订", "回复1签收"])
def test_other_texts_are_no_reply(text: str) -> None:
    assert parse_reply(text)[1] is None
