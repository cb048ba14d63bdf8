"""WeChat Official Account adapter against its stand-in, with the event push."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web

from adapters.callbacks import CallbackRecord, DeliveryReport, DeliveryStatus, callback_routes
from adapters.errors import (
    RateLimitedError,
    RecipientError,
    TransientProviderError,
)
from adapters.masking import Secret
from adapters.providers.wechat_oa.adapter import OfficialAccountAdapter
from adapters.standin import Standins
from adapters.types import Adapter, Message

from .conftest import ManualClock, make_runtime, wait_for

OPENID = "oia2TjuEGTNoeX76QEjQNrcURxG8"


async def test_template_message(adapters: dict[str, Adapter], standins: Standins) -> None:
    result = await adapters["wechat"].send(
        OPENID, Message("巡查提醒", url="https://x.cn/n/1", reference="attempt-3")
    )
    assert result.message_id.isdigit()
    [sent] = standins.wechat.sent
    assert sent == {
        "touser": OPENID,
        "template_id": standins.wechat.template_id,
        "data": {"thing1": {"value": "巡查提醒"}},
        "url": "https://x.cn/n/1",
        "client_msg_id": "attempt-3",
    }


async def test_subscription_message_and_value_limits(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    oa = adapters["wechat"]
    message = Message(
        "",
        params={"thing1": "巡查提醒", "time2": "2024年1月1日 08:00"},
        format="subscription",
        template=standins.wechat.subscribe_template_id,
    )
    await oa.send(OPENID, message)
    assert standins.wechat.sent[0]["data"]["time2"] == {"value": "2024年1月1日 08:00"}
    await oa.send(OPENID, replace(message, params={"phrase1": "六个字的短语"}))
    assert standins.wechat.sent[1]["data"]["phrase1"] == {"value": "六个字的…"}


async def test_one_stable_token_fetch_for_100_concurrent_sends(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    await asyncio.gather(*(adapters["wechat"].send(OPENID, Message(f"{i}")) for i in range(100)))
    assert standins.wechat.token_fetches == 1
    assert len(standins.wechat.sent) == 100


async def test_classic_token_mode_and_refresh_on_expired(
    standins: Standins, clock: ManualClock
) -> None:
    config = standins.config().wechat
    assert config is not None
    oa = OfficialAccountAdapter(config, make_runtime(clock), token_mode="classic")
    try:
        await asyncio.gather(*(oa.send(OPENID, Message("x")) for _ in range(10)))
        standins.wechat.faults.inject("expired_token")
        await oa.send(OPENID, Message("y"))
    finally:
        await oa.aclose()
    assert standins.wechat.token_fetches == 2


async def test_error_classes(adapters: dict[str, Adapter], standins: Standins) -> None:
    oa = adapters["wechat"]
    standins.wechat.faults.inject("invalid_number")
    with pytest.raises(RecipientError, match="40003"):
        await oa.send(OPENID, Message("x"))
    standins.wechat.faults.inject("rate_limited")
    with pytest.raises(RateLimitedError, match="45011"):
        await oa.send(OPENID, Message("x"))
    standins.wechat.faults.inject("server_error", 3)
    with pytest.raises(TransientProviderError):
        await oa.send(OPENID, Message("x"))


async def test_wrong_secret(standins: Standins, clock: ManualClock) -> None:
    config = standins.config().wechat
    assert config is not None
    oa = OfficialAccountAdapter(replace(config, app_secret=Secret("bad")), make_runtime(clock))
    try:
        result = await oa.check()
    finally:
        await oa.aclose()
    assert not result.ok and "40125" in result.detail


@pytest.fixture
async def callback_server(
    standins: Standins,
) -> AsyncIterator[tuple[str, list[CallbackRecord]]]:
    received: list[CallbackRecord] = []

    async def sink(record: CallbackRecord) -> None:
        received.append(record)

    app = web.Application()
    app.add_routes(callback_routes(sink, wechat_token=standins.wechat.callback_token))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/callbacks", received
    finally:
        await runner.cleanup()


async def test_template_send_job_finish_event_reaches_the_sink(
    adapters: dict[str, Adapter],
    standins: Standins,
    callback_server: tuple[str, list[CallbackRecord]],
) -> None:
    base, received = callback_server
    standins.send_reports_to(base)
    result = await adapters["wechat"].send(OPENID, Message("x"))
    await wait_for(lambda: len(received) == 1)
    [report] = received
    assert isinstance(report, DeliveryReport)
    assert report.provider_message_id == result.message_id
    assert report.recipient == OPENID
    assert report.status is DeliveryStatus.DELIVERED
    assert standins.wechat.push_failures == 0


async def test_classic_token_keeps_the_previous_one_for_five_minutes(clock: ManualClock) -> None:
    from adapters.standin import start_standins

    wall = [1_700_000_000.0]
    standins = await start_standins(wall=lambda: wall[0])
    config = standins.config().wechat
    assert config is not None
    runtime = replace(make_runtime(clock), wall=lambda: wall[0])
    first = OfficialAccountAdapter(config, runtime, token_mode="classic")
    second = OfficialAccountAdapter(config, runtime, token_mode="classic")
    try:
        await first.send(OPENID, Message("a"))
        await second.send(OPENID, Message("b"))  # a new /token call retires first's token
        wall[0] += 299
        await first.send(OPENID, Message("c"))  # still inside the overlap
        wall[0] += 2
        await first.send(OPENID, Message("d"))  # 40001 → refresh once → accepted
    finally:
        await first.aclose()
        await second.aclose()
        await standins.close()
    assert standins.wechat.token_fetches == 3
    assert len(standins.wechat.sent) == 4
