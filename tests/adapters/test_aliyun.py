"""Alibaba Cloud SMS adapter against its stand-in over real HTTP."""

from __future__ import annotations

import time

import pytest

from adapters.core.runtime import Runtime
from adapters.errors import (
    AuthenticationError,
    RecipientError,
    SendTimeoutError,
    TransientProviderError,
    ValidationError,
)
from adapters.masking import Secret
from adapters.providers.aliyun_sms.adapter import AliyunSmsAdapter
from adapters.standin import Standins
from adapters.types import Adapter, Message

from .conftest import ManualClock, make_runtime


async def test_send_success_signs_and_fills_template(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    result = await adapters["aliyun-sms"].send(
        "+86 138-0000-0000", Message("会议改到三点", reference="attempt-7")
    )
    assert result.provider == "aliyun-sms"
    assert result.message_id.endswith("^0")
    assert result.recipient == "+8613800000000"
    [sent] = standins.aliyun.sent
    assert sent["PhoneNumbers"] == "13800000000"
    assert sent["TemplateParam"] == '{"content":"会议改到三点"}'
    assert sent["OutId"] == "attempt-7"
    assert sent["SignName"] == standins.aliyun.sign_name


async def test_params_are_sent_as_template_param(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    await adapters["aliyun-sms"].send(
        "13800000001", Message("ignored", params={"name": "张三", "time": "15:00"})
    )
    assert standins.aliyun.sent[0]["TemplateParam"] == '{"name":"张三","time":"15:00"}'


async def test_send_batch(standins: Standins, runtime: Runtime) -> None:
    config = standins.config().aliyun_sms
    assert config is not None
    adapter = AliyunSmsAdapter(config, runtime)
    try:
        result = await adapter.send_batch(
            ["13800000001", "13900000002"], [{"content": "甲"}, {"content": "乙"}]
        )
    finally:
        await adapter.aclose()
    assert result.message_id
    assert [s["PhoneNumber"] for s in standins.aliyun.sent] == ["13800000001", "13900000002"]


async def test_expired_timestamp_is_resigned_and_retried(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    standins.aliyun.faults.inject("expired_token")
    result = await adapters["aliyun-sms"].send("13800000000", Message("x"))
    assert result.message_id
    assert standins.aliyun.requests == 2  # a fresh nonce: no SignatureNonceUsed


async def test_throttling_honours_retry_after(
    adapters: dict[str, Adapter], standins: Standins, clock: ManualClock
) -> None:
    standins.aliyun.faults.inject("rate_limited")
    await adapters["aliyun-sms"].send("13800000000", Message("x"))
    assert clock.sleeps == [1.0]


async def test_invalid_number_is_permanent_and_not_retried(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    standins.aliyun.faults.inject("invalid_number")
    with pytest.raises(RecipientError) as caught:
        await adapters["aliyun-sms"].send("13800000000", Message("x"))
    assert caught.value.code == "isv.MOBILE_NUMBER_ILLEGAL"
    assert not caught.value.retryable
    assert standins.aliyun.requests == 1


async def test_server_error_retries_with_backoff_then_fails(
    adapters: dict[str, Adapter], standins: Standins, clock: ManualClock
) -> None:
    standins.aliyun.faults.inject("server_error", 3)
    with pytest.raises(TransientProviderError) as caught:
        await adapters["aliyun-sms"].send("13800000000", Message("x"))
    assert caught.value.retryable
    assert standins.aliyun.requests == 3
    assert clock.sleeps == [0.25, 0.5]  # jitter 0.5 × 0.5·2ⁿ


async def test_server_error_then_success(adapters: dict[str, Adapter], standins: Standins) -> None:
    standins.aliyun.faults.inject("server_error")
    assert (await adapters["aliyun-sms"].send("13800000000", Message("x"))).message_id


async def test_timeout_is_ambiguous_and_not_resent(standins: Standins, clock: ManualClock) -> None:
    config = standins.config().aliyun_sms
    assert config is not None
    adapter = AliyunSmsAdapter(config, make_runtime(clock, timeout=0.2))
    standins.aliyun.faults.inject("timeout")
    try:
        with pytest.raises(SendTimeoutError) as caught:
            await adapter.send("13800000000", Message("x"))
    finally:
        await adapter.aclose()
    assert caught.value.ambiguous and not caught.value.retryable
    assert standins.aliyun.requests == 1


async def test_wrong_secret_is_rejected_like_the_provider(
    standins: Standins, runtime: Runtime
) -> None:
    config = standins.config().aliyun_sms
    assert config is not None
    from dataclasses import replace

    adapter = AliyunSmsAdapter(replace(config, access_key_secret=Secret("wrong")), runtime)
    try:
        with pytest.raises(AuthenticationError) as caught:
            await adapter.send("13800000000", Message("x"))
        check = await adapter.check()
    finally:
        await adapter.aclose()
    assert caught.value.code == "SignatureDoesNotMatch"
    assert not check.ok and "SignatureDoesNotMatch" in check.detail


async def test_clock_skew_beyond_15_minutes_is_refused(
    standins: Standins, clock: ManualClock
) -> None:
    config = standins.config().aliyun_sms
    assert config is not None
    runtime = make_runtime(clock, attempts=1)
    from dataclasses import replace

    adapter = AliyunSmsAdapter(config, replace(runtime, wall=lambda: time.time() - 1000))
    try:
        check = await adapter.check()
    finally:
        await adapter.aclose()
    assert not check.ok and "InvalidTimeStamp.Expired" in check.detail


async def test_local_validation_before_sending(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    with pytest.raises(ValidationError, match="not a valid phone number"):
        await adapters["aliyun-sms"].send("12345", Message("x"))
    with pytest.raises(ValidationError, match="URL"):
        await adapters["aliyun-sms"].send("13800000000", Message("见 https://x.cn"))
    assert standins.aliyun.requests == 0


async def test_check_passes_with_good_credentials(adapters: dict[str, Adapter]) -> None:
    result = await adapters["aliyun-sms"].check()
    assert result.ok, result.detail
