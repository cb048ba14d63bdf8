"""WeCom application messages and group robot against the stand-in."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from adapters.core.ratelimit import RateSpec
from adapters.errors import (
    AuthenticationError,
    RateLimitedError,
    RecipientError,
    SendTimeoutError,
    ValidationError,
)
from adapters.masking import Secret
from adapters.providers.wecom.adapter import WecomAdapter
from adapters.providers.wecom_bot.adapter import WecomBotAdapter
from adapters.standin import Standins
from adapters.types import Adapter, Message

from .conftest import ManualClock, make_runtime


async def test_text_markdown_textcard(adapters: dict[str, Adapter], standins: Standins) -> None:
    wecom = adapters["wecom"]
    r1 = await wecom.send("zhangsan", Message("请签收通知"))
    await wecom.send("zhangsan", Message("**紧急**", format="markdown"))
    await wecom.send(
        "zhangsan",
        Message(
            '<div class="highlight">明早九点</div>',
            title="会议通知",
            url="https://x.cn/n/1",
            format="textcard",
        ),
    )
    assert r1.message_id.startswith("msg")
    kinds = [s["msgtype"] for s in standins.wecom.sent]
    assert kinds == ["text", "markdown", "textcard"]
    assert standins.wecom.sent[2]["textcard"]["btntxt"] == "详情"
    assert standins.wecom.sent[0]["agentid"] == standins.wecom.agent_id
    assert standins.wecom.token_fetches == 1


async def test_one_token_fetch_for_100_concurrent_sends(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    results = await asyncio.gather(
        *(adapters["wecom"].send(f"user{i}", Message("hi")) for i in range(100))
    )
    assert len({r.message_id for r in results}) == 100
    assert standins.wecom.token_fetches == 1


async def test_token_expired_error_refreshes_once_under_concurrency(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    await adapters["wecom"].send("a", Message("warm up"))
    standins.wecom.expire_tokens()
    await asyncio.gather(*(adapters["wecom"].send(f"u{i}", Message("x")) for i in range(20)))
    assert standins.wecom.token_fetches == 2


async def test_injected_expired_token(adapters: dict[str, Adapter], standins: Standins) -> None:
    standins.wecom.faults.inject("expired_token")
    assert (await adapters["wecom"].send("a", Message("x"))).message_id
    assert standins.wecom.token_fetches == 2


async def test_token_refreshed_before_expiry(
    adapters: dict[str, Adapter], standins: Standins, clock: ManualClock
) -> None:
    await adapters["wecom"].send("a", Message("x"))
    clock.advance(7200 - 721)  # still outside the refresh margin (10 % = 720 s)
    await adapters["wecom"].send("a", Message("x"))
    assert standins.wecom.token_fetches == 1
    clock.advance(2)
    await adapters["wecom"].send("a", Message("x"))
    assert standins.wecom.token_fetches == 2


async def test_invaliduser_and_81013(adapters: dict[str, Adapter], standins: Standins) -> None:
    standins.wecom.faults.inject("invalid_number")
    with pytest.raises(RecipientError) as caught:
        await adapters["wecom"].send("ghost", Message("x"))
    assert caught.value.code == "81013"


async def test_rate_limited_45009_not_retried_now(
    adapters: dict[str, Adapter], standins: Standins, clock: ManualClock
) -> None:
    standins.wecom.faults.inject("rate_limited")
    with pytest.raises(RateLimitedError) as caught:
        await adapters["wecom"].send("a", Message("x"))
    assert caught.value.retry_after == 60.0 and caught.value.retryable
    assert clock.sleeps == []


async def test_5xx_retried(adapters: dict[str, Adapter], standins: Standins) -> None:
    standins.wecom.faults.inject("server_error", 2)
    assert (await adapters["wecom"].send("a", Message("x"))).message_id


async def test_timeout(standins: Standins, clock: ManualClock) -> None:
    config = standins.config().wecom
    assert config is not None
    adapter = WecomAdapter(config, make_runtime(clock, timeout=0.2))
    try:
        await adapter.check()
        standins.wecom.faults.inject("timeout")
        with pytest.raises(SendTimeoutError):
            await adapter.send("a", Message("x"))
    finally:
        await adapter.aclose()


async def test_wrong_secret_check_says_what_is_wrong(
    standins: Standins, clock: ManualClock
) -> None:
    config = standins.config().wecom
    assert config is not None
    adapter = WecomAdapter(replace(config, corp_secret=Secret("bad")), make_runtime(clock))
    try:
        result = await adapter.check()
        with pytest.raises(AuthenticationError):
            await adapter.send("a", Message("x"))
    finally:
        await adapter.aclose()
    assert not result.ok and "40001" in result.detail


async def test_per_recipient_limit_with_injected_clock(
    standins: Standins, clock: ManualClock
) -> None:
    config = standins.config().wecom
    assert config is not None
    runtime = make_runtime(clock, limits={"wecom": (None, RateSpec(2, 60.0))})
    adapter = WecomAdapter(config, runtime)
    try:
        await adapter.send("a", Message("1"))
        await adapter.send("a", Message("2"))
        with pytest.raises(RateLimitedError) as caught:
            await adapter.send("a", Message("3"))
        assert caught.value.retry_after == pytest.approx(30.0)
        await adapter.send("b", Message("other member is not limited"))
        clock.advance(30.0)
        await adapter.send("a", Message("4"))
    finally:
        await adapter.aclose()
    assert len(standins.wecom.sent) == 4


async def test_validation(adapters: dict[str, Adapter], standins: Standins) -> None:
    with pytest.raises(ValidationError, match="title and a url"):
        await adapters["wecom"].send("a", Message("x", format="textcard"))
    with pytest.raises(ValidationError, match="UserID"):
        await adapters["wecom"].send("a|b", Message("x"))
    assert standins.wecom.sent == []


async def test_bot_text_mentions_and_markdown(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    bot = adapters["wecom-bot"]
    await bot.send("13800000000", Message("值班提醒"))
    await bot.send("zhangsan", Message("值班提醒"))
    await bot.send("", Message("## 告警", format="markdown"))
    first, second, third = standins.wecom.bot_sent
    assert first["text"]["mentioned_mobile_list"] == ["13800000000"]
    assert second["text"]["mentioned_list"] == ["zhangsan"]
    assert third == {"msgtype": "markdown", "markdown": {"content": "## 告警"}}


async def test_bot_errors(standins: Standins, clock: ManualClock) -> None:
    config = standins.config().wecom_bot
    assert config is not None
    runtime = make_runtime(clock, limits={"wecom-bot": (None, None)})
    bad = WecomBotAdapter(replace(config, key=Secret("not-the-key")), runtime)
    good = WecomBotAdapter(config, runtime)
    try:
        with pytest.raises(AuthenticationError, match="93000"):
            await bad.send("", Message("x"))
        for i in range(20):
            await good.send("", Message(f"{i}"))
        with pytest.raises(RateLimitedError, match="45009"):
            await good.send("", Message("21st in a minute"))
    finally:
        await bad.aclose()
        await good.aclose()


async def test_bot_default_local_limit_is_20_per_minute(
    standins: Standins, clock: ManualClock
) -> None:
    config = standins.config().wecom_bot
    assert config is not None
    runtime = replace(make_runtime(clock), limits={})
    standins.wecom.bot_per_minute = 100  # the stand-in's own window runs on wall time
    bot = WecomBotAdapter(config, runtime)
    try:
        for i in range(20):
            await bot.send("", Message(f"{i}"))
        with pytest.raises(RateLimitedError) as caught:
            await bot.send("", Message("x"))
        assert caught.value.code == "local_rate_limit"
        clock.advance(3.0)
        await bot.send("", Message("one token back after 3 s"))
    finally:
        await bot.aclose()
    assert len(standins.wecom.bot_sent) == 21
