"""The escalation lease: a setting, renewed while a rung runs, and a send cut short
by a crash resolved by whoever takes the rung over — with a controlled clock in
process, and with a real ``hub serve`` SIGKILLed while a provider holds the send."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from adapters.standin import Standins
from channels.alerts import Escalator
from channels.alerts.settings import EscalationSettings
from tests.channels.conftest import (
    ORG_UNITS,
    DomainHub,
    FakeClock,
    load_org,
    notice_hub,
)
from tests.support.hubs import HubProcess, wait_until

MEMBERS = [
    {"id": "fa", "name": "甲", "unit": "b2", "phone": "13900000001", "wechat": "oFA_openid_0001"},
    {"id": "fb", "name": "乙", "unit": "b2", "phone": "13900000002", "wechat": "oFB_openid_0002"},
    {"id": "fc", "name": "丙", "unit": "b2", "phone": "13900000003", "wechat": "oFC_openid_0003"},
]


@contextlib.asynccontextmanager
async def lease_hub(
    data_dir: Path, database_url: str, clock: FakeClock, standins: Standins, lease: float
) -> AsyncIterator[DomainHub]:
    async with notice_hub(
        data_dir,
        database_url,
        clock,
        adapters_env=standins.env(),
        escalation=EscalationSettings(lease=lease, period=1.0),
    ) as h:
        await load_org(h)
        for m in MEMBERS:
            await h.ok("POST", "/api/members", m)
        yield h


def sms_to(standins: Standins) -> list[str]:
    return [s["PhoneNumber"] for s in standins.aliyun.sent]


async def attempts(h: DomainHub, notice: str) -> list[tuple[str, int, str]]:
    view = await h.ok("GET", f"/api/alerts/{notice}/escalation")
    return sorted((a["member"], a["rung"], a["status"]) for a in view["attempts"])


async def test_lease_is_renewed_while_a_slow_send_runs(
    tmp_path: Path, database_url: str, clock: FakeClock, standins: Standins
) -> None:
    """A provider holds the first SMS past the lease: the heartbeat renews it, so a
    second scheduler on the same database takes nothing over; every member gets
    one SMS."""
    async with lease_hub(tmp_path / "d", database_url, clock, standins, lease=3.0) as h:
        status, body = await h.api(
            "POST",
            "/api/alerts",
            {
                "title": "防汛紧急通知",
                "body": "请立即查看。",
                "audience": {"members": [m["id"] for m in MEMBERS]},
                "escalation": [{"after": "0s", "via": "sms"}],
            },
        )
        assert status == 201, body
        esc = h.ext.escalator
        other = Escalator(h.ext.notices, esc.outbox, owner="other", lease=3.0, poll=None)
        db = h.hub.runtime.store.database
        standins.aliyun.faults.inject("timeout")  # hold the first send
        first = asyncio.create_task(esc.tick())
        await wait_until(lambda: standins.aliyun.requests >= 1, timeout=10, what="held send")
        clock.advance(300)  # far past the lease (3 s; the old fixed one was 120 s)

        async def renewed() -> bool:
            until = await db.fetchval("SELECT lease_until FROM alr_rungs WHERE owner IS NOT NULL")
            return until is not None and int(until) > clock() * 1000

        await wait_until(renewed, timeout=10, what="the heartbeat renewing the lease")
        assert await other.tick() == 0  # the lease is still held
        standins.aliyun.faults.release()
        assert await asyncio.wait_for(first, 30) == 1
        assert await other.tick() == 0
        assert sorted(sms_to(standins)) == ["13900000001", "13900000002", "13900000003"]
        n = body["notice"]["id"]
        assert [s for _, _, s in await attempts(h, n)] == ["sent", "sent", "sent"]


async def test_a_lost_lease_stops_the_rung(
    tmp_path: Path, database_url: str, clock: FakeClock, standins: Standins
) -> None:
    """Between members the scheduler renews; when the rung is no longer its own
    (another took it over) it stops instead of sending the rest a second time."""
    async with lease_hub(tmp_path / "d", database_url, clock, standins, lease=3.0) as h:
        status, body = await h.api(
            "POST",
            "/api/alerts",
            {
                "title": "通知",
                "body": "正文",
                "audience": {"members": [m["id"] for m in MEMBERS]},
                "escalation": [{"after": "0s", "via": "sms"}],
            },
        )
        assert status == 201, body
        db = h.hub.runtime.store.database
        esc = h.ext.escalator
        standins.aliyun.faults.inject("timeout")
        first = asyncio.create_task(esc.tick())
        await wait_until(lambda: standins.aliyun.requests >= 1, timeout=10, what="held send")
        # another scheduler took the rung over (as if this one had stalled)
        await db.execute("UPDATE alr_rungs SET owner = 'other'")
        clock.advance(2)  # a renewal is due before the next member
        standins.aliyun.faults.release()
        await asyncio.wait_for(first, 30)
        assert sms_to(standins) == ["13900000001"]  # fa only: fb and fc are the other's
        row = await db.fetchrow("SELECT done_at, owner FROM alr_rungs")
        assert row is not None and row["done_at"] is None and row["owner"] == "other"


def test_lease_and_period_settings_are_checked(tmp_path: Path) -> None:
    """Bad values stop `hub serve` with a clear message and status 2, no traceback."""
    config = tmp_path / "hub.toml"
    config.write_text('escalation_period = "often"\n')
    for extra_args, env in (
        (["--escalation-lease", "abc"], {}),
        ([], {"HUB_ESCALATION_LEASE": "0.2"}),
        (["--escalation-period", "-1"], {}),
        (["--escalation-period", "１"], {}),  # full-width: float() would take it
        ([], {"HUB_ESCALATION_LEASE": "١٢٠"}),  # Arabic-Indic digits
        (["--config", str(config)], {}),
    ):
        out = subprocess.run(
            [str(Path(sys.executable).parent / "hub"), "serve", *extra_args],
            env={"PATH": "/usr/bin:/bin", "HUB_DATA_DIR": str(tmp_path / "d"), **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, (out.returncode, out.stderr)
        assert "configuration error: HUB_ESCALATION_" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


# -- a real process killed mid-send ------------------------------------------------------


async def _api(hub: HubProcess, method: str, path: str, json: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {hub.api_key}"}
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, hub.http_url + path, json=json, headers=headers) as r,
    ):
        body = await r.json(content_type=None)
        assert r.status in (200, 201), (r.status, body)
        return body


async def _view(hub: HubProcess, notice: str) -> dict[str, Any]:
    body: dict[str, Any] = await _api(hub, "GET", f"/api/alerts/{notice}/escalation")
    return body


async def test_hub_killed_mid_send_resolves_the_attempt_and_goes_on(
    tmp_path: Path, standins: Standins
) -> None:
    env = {
        **standins.env(),
        "HUB_ESCALATION_LEASE": "2",
        "HUB_ESCALATION_PERIOD": "0.2",
    }
    hub = HubProcess(tmp_path / "data", env=env)
    await asyncio.to_thread(hub.start)
    try:
        for unit in ORG_UNITS:
            await _api(hub, "POST", "/api/units", unit)
        for member in MEMBERS[:2]:
            await _api(hub, "POST", "/api/members", member)
        standins.aliyun.faults.inject("timeout")  # the first SMS is held: kill then
        created = await _api(
            hub,
            "POST",
            "/api/alerts",
            {
                "title": "防汛紧急通知",
                "body": "请立即查看。",
                "audience": {"members": ["fa", "fb"]},
                "escalation": [{"after": "0s", "via": "sms"}, {"after": "1s", "via": "wechat"}],
            },
        )
        notice = created["notice"]["id"]
        await wait_until(
            lambda: standins.aliyun.requests >= 1, timeout=20, what="the SMS to be in flight"
        )
        held = await _view(hub, notice)
        assert [(a["member"], a["status"]) for a in held["attempts"]] == [("fa", "sending")]
        hub.stop(signal.SIGKILL)
        standins.aliyun.faults.release()  # the provider answers a dead socket
        await asyncio.to_thread(hub.start)

        async def settled() -> dict[str, Any] | None:
            view = await _view(hub, notice)
            done = all(r["done_at"] is not None for r in view["rungs"])
            return view if done and len(view["attempts"]) == 4 else None

        view = await wait_until(settled, timeout=30, interval=0.1, what="the ladder to finish")
        got = sorted((a["member"], a["rung"], a["status"]) for a in view["attempts"])
        assert got == [
            ("fa", 0, "unknown"),  # cut short by the kill: not resent
            ("fa", 1, "sent"),
            ("fb", 0, "sent"),
            ("fb", 1, "sent"),
        ]
        assert sms_to(standins) == ["13900000002"]
        assert standins.aliyun.requests == 2  # fa's held request and fb's: none repeated
        assert sorted(str(s["touser"]) for s in standins.wechat.sent) == [
            "oFA_openid_0001",
            "oFB_openid_0002",
        ]
        audit = await _api(hub, "GET", f"/api/notices/{notice}/audit")
        assert audit["ok"], audit
        assert "interrupted mid-send" in hub.log() and "13900000001" not in hub.log()
    finally:
        hub.stop()
