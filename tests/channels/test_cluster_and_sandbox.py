"""The domain across processes (a directory change on one process cuts live
subscriptions on another) and the provider sandbox of `hub serve --sandbox-providers`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from channels.app import DomainExtension
from tests.channels.conftest import DomainHub, load_org
from tests.hub import redis_support
from tests.hub.redis_support import RedisServer
from tests.support.hubs import hub_settings, running_hub, wait_until
from tests.support.ws import open_ws

redis_server = redis_support.redis_server  # fixture

pg = pytest.importorskip("tests.support.postgres")


@contextlib.asynccontextmanager
async def two_hubs(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[DomainHub, DomainHub]]:
    async with pg.temp_database("tz_cluster") as db_url:
        a_ext = DomainExtension(hub_settings(tmp_path / "a"), adapters_env={})
        b_ext = DomainExtension(hub_settings(tmp_path / "b"), adapters_env={})
        common = {"database_url": db_url, "redis_url": redis_url + "?probe_interval=0.2"}
        async with running_hub(tmp_path / "a", extensions=[a_ext], **common) as a:
            b_settings = {**common, "token_secret": a.secret, "api_key": a.api_key}
            async with running_hub(tmp_path / "b", extensions=[b_ext], **b_settings) as b:
                yield DomainHub(a, a_ext), DomainHub(b, b_ext)


async def test_group_removal_on_one_process_cuts_the_subscription_on_another(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with two_hubs(tmp_path, redis_server.url) as (a, b):
        await load_org(a)
        c = await open_ws(b.hub.ws_url, b.token("m1"))  # m1 is connected to process B
        await c.ok("subscribe", channel="group:g1")
        await b.ext.directory.access("m1")  # B has m1's permissions cached
        await a.ok("DELETE", "/api/groups/g1/members/m1")  # the change is made on process A
        push = await c.push("unsubscribe", timeout=10)
        assert push["channel"] == "group:g1" and push["reason"]
        assert (await c.call("publish", channel="group:g1", data={"text": "x"}))["error"][
            "code"
        ] == 103


async def test_provider_sandbox(tmp_path: Path) -> None:
    ext = DomainExtension(
        hub_settings(tmp_path / "d"), sandbox=True, escalation_poll=None, adapters_env={}
    )
    async with running_hub(tmp_path / "d", extensions=[ext]) as hub:
        assert {"aliyun-sms", "tencent-sms", "wecom", "wecom-bot", "wechat", "sms"} <= set(
            ext.adapters
        )
        for name in ("aliyun-sms", "tencent-sms", "wecom", "wechat"):
            result = await ext.adapters[name].check()
            assert result.ok, (name, result.detail)
        # end to end: an escalation SMS carries a reply code, the sandbox's simulated
        # member answers quoting it (an uplink pushed to the hub's secret callback path)
        # and that acks the notice through the SMS-reply channel
        h = DomainHub(hub, ext)
        await load_org(h)
        prefix = ext.callbacks_prefix
        assert prefix is not None and prefix.startswith("/callbacks/") and len(prefix) > 26
        alert = {
            "title": "沙箱演练",
            "audience": {"members": ["m1"]},
            "escalation": [{"after": "0s", "via": "sms"}],
        }
        n = (await h.ok("POST", "/api/alerts", alert))["notice"]
        assert await ext.escalator.tick() == 1

        async def acked() -> dict[str, object] | None:
            page = await h.ok("GET", f"/api/notices/{n['id']}/receipts")
            got: dict[str, object] = page["receipts"][0]
            return got if got["state"] == "acked" else None

        receipt = await wait_until(acked, timeout=10, what="the simulated SMS reply")
        assert receipt["channel"] == "sms-reply"
        status, _ = await h.api("POST", "/callbacks/aliyun-sms/uplink", [])
        assert status == 404  # only under the sandbox's secret prefix
