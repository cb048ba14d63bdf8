"""An alert to 2,000 recipients while a hub is SIGKILLed.

Two ``hub serve`` processes share a Redis and a PostgreSQL the test started. The
alert (a notice with an escalation ladder: WeChat after 3 s, SMS after 6 s;
providers not configured, so the ``log`` adapter sends) is created on hub 0,
which is SIGKILLed while the request is in flight or fanning out; the sender
retries with the same ``idem`` on hub 1 until answered. Hub 0 is started again
and both run the ladder. Verdict, counted in the database: one notice, one
receipt per recipient, every rung sent once per recipient (one ``ntc_attempts``
row per notice, rung and member), every rung row done.
"""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
import asyncpg
import pytest

from tests.chaos.support import Deployment, api, deployment, summary
from tests.support.hubs import wait_until

__all__ = ["deployment"]

N = int(os.environ.get("HUB_CHAOS_RECIPIENTS", "2000"))


def members_csv(n: int) -> bytes:
    rows = ["编号,姓名,所属支部,手机号,微信号"]
    rows += [f"m{i:05d},成员{i},b1,138{i:08d},wx{i:06d}" for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


@pytest.mark.timeout(300)
async def test_alert_to_2000_while_a_hub_is_killed(deployment: Deployment) -> None:
    d = deployment
    started = time.monotonic()
    secret, key = "chaos-secret-" + os.urandom(16).hex(), "chaos-key-" + os.urandom(8).hex()
    h0 = d.add_hub(secret, key)
    h1 = d.add_hub(secret, key)
    async with aiohttp.ClientSession() as s:
        for unit in (
            {"id": "d", "name": "示范区", "kind": "区"},
            {"id": "b1", "name": "第一支部", "parent": "d", "kind": "支部"},
        ):
            st, body = await api(s, h1, "POST", "/api/units", unit)
            assert st == 201, body
        async with s.post(
            h1.http_url + "/api/directory/import?kind=members",
            data=members_csv(N),
            headers={"Authorization": f"Bearer {key}"},
        ) as r:
            assert r.status == 200, await r.text()

        alert = {
            "title": "防汛紧急通知",
            "body": "请立即到岗。",
            "audience": {"units": ["d"]},
            "require_ack": True,
            "urgency": "urgent",
            "escalation": [{"after": 3, "via": "wechat"}, {"after": 6, "via": "sms"}],
            "idem": "chaos-alert-1",
        }
        t_send = time.monotonic()
        first = asyncio.create_task(api(s, h0, "POST", "/api/alerts", alert))
        await asyncio.sleep(0.05)  # the request is on its way (or being handled)
        h0.kill()
        first_result = await asyncio.gather(first, return_exceptions=True)
        answer = None
        while answer is None:  # the sender retries with the same key on the other hub
            st, body = await api(s, h1, "POST", "/api/alerts", alert)
            if st in (200, 201):
                answer = body
            else:
                await asyncio.sleep(0.2)
        notice_id = answer["notice"]["id"]
        await asyncio.to_thread(h0.start, 60)

    conn = await asyncpg.connect(d.pg.url)
    try:

        async def ladder_done() -> bool:
            left = await conn.fetchval(
                "SELECT count(*) FROM alr_rungs WHERE notice = $1 AND done_at IS NULL", notice_id
            )
            rungs = await conn.fetchval(
                "SELECT count(*) FROM alr_rungs WHERE notice = $1", notice_id
            )
            return bool(rungs) and left == 0

        await wait_until(ladder_done, timeout=120, interval=0.5, what="every rung done")
        t_done = time.monotonic() - t_send
        notices = await conn.fetchval("SELECT count(*) FROM ntc_notices")
        receipts = await conn.fetch(
            "SELECT member, count(*) AS n FROM ntc_receipts WHERE notice = $1 GROUP BY member",
            notice_id,
        )
        attempts = await conn.fetch(
            "SELECT rung, member, count(*) AS n FROM ntc_attempts WHERE notice = $1 "
            "GROUP BY rung, member",
            notice_id,
        )
        statuses = await conn.fetch(
            "SELECT via, status, count(*) AS n FROM ntc_attempts WHERE notice = $1 "
            "GROUP BY via, status",
            notice_id,
        )
    finally:
        await conn.close()
    per_rung = {r: sum(1 for a in attempts if a["rung"] == r) for r in (0, 1)}
    twice = [dict(a) for a in attempts if a["n"] != 1]
    summary(
        "notice-kill",
        recipients=N,
        notices=notices,
        receipts=len(receipts),
        receipts_twice=sum(1 for r in receipts if r["n"] != 1),
        wechat_attempts=per_rung[0],
        sms_attempts=per_rung[1],
        attempts_twice=len(twice),
        first_request=type(first_result[0]).__name__
        if isinstance(first_result[0], BaseException)
        else first_result[0][0],
        statuses="/".join(f"{s['via']}:{s['status']}={s['n']}" for s in statuses),
        ladder_done_s=round(t_done, 1),
        total_s=round(time.monotonic() - started, 1),
    )
    assert notices == 1
    assert len(receipts) == N and all(r["n"] == 1 for r in receipts)
    assert twice == []
    assert per_rung == {0: N, 1: N}
    for h in (h0, h1):
        assert "Traceback" not in h.log(), h.log()[-3000:]
