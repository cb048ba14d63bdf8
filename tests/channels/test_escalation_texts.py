"""The texts of an escalation rung, fitted by each adapter to its provider's limits,
through a hub and the providers' stand-ins (real HTTP)."""

from __future__ import annotations

from pathlib import Path

import orjson

from adapters.standin import Standins
from tests.channels.conftest import FakeClock, load_org, notice_hub


async def test_wecom_only_member_gets_a_long_body_fitted_to_the_textcard(
    tmp_path: Path, database_url: str, clock: FakeClock, standins: Standins
) -> None:
    """WeCom counts the textcard description in UTF-8 bytes (512): a 2,000-汉字 body
    is cut on a character boundary, the ack hint kept, and the rung succeeds."""
    async with notice_hub(tmp_path / "d", database_url, clock, adapters_env=standins.env()) as h:
        await load_org(h)
        member = {"id": "wq", "name": "丁", "unit": "b2", "wecom": "dingyi", "phone": "13900000009"}
        await h.ok("POST", "/api/members", member)
        body = "各支部要认真组织学习，" * 200
        status, created = await h.api(
            "POST",
            "/api/alerts",
            {
                "title": "关于做好汛期安全工作的紧急通知" * 3,
                "body": body,
                "audience": {"members": ["wq"]},
                "escalation": [{"after": "0s", "via": "wechat"}, {"after": "1s", "via": "sms"}],
            },
        )
        assert status == 201, created
        clock.advance(2)
        assert await h.ext.escalator.tick() == 2
        [sent] = standins.wecom.sent
        card = sent["textcard"]
        description = str(card["description"])
        assert len(description.encode("utf-8")) <= 512
        assert description.endswith("…\n请点击签收。")
        assert body.startswith(description.removesuffix("…\n请点击签收。"))
        assert len(str(card["title"]).encode("utf-8")) <= 128
        assert str(card["title"]).startswith("【紧急】关于做好汛期")
        [sms] = standins.aliyun.sent
        text = orjson.loads(sms["TemplateParam"])["content"]
        assert len(text) <= 35 and "…》" in text  # the title cut, the request kept
        n = created["notice"]["id"]
        view = await h.ok("GET", f"/api/alerts/{n}/escalation")
        got = sorted((a["via"], a["status"]) for a in view["attempts"])
        assert got == [("sms", "sent"), ("wechat", "sent")]
