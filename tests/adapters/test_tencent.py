"""Tencent Cloud SMS adapter against its stand-in over real HTTP."""

from __future__ import annotations

import time
from dataclasses import replace

import orjson
import pytest

from adapters.errors import (
    AuthenticationError,
    RateLimitedError,
    RecipientError,
    SendTimeoutError,
    TokenExpiredError,
    TransientProviderError,
    ValidationError,
)
from adapters.masking import Secret
from adapters.providers.tencent_sms.adapter import TencentSmsAdapter
from adapters.standin import Standins
from adapters.types import Adapter, Message

from .conftest import ManualClock, make_runtime


async def test_send_success(adapters: dict[str, Adapter], standins: Standins) -> None:
    result = await adapters["tencent-sms"].send(
        "008613800000000", Message("1234", reference="attempt-9")
    )
    assert result.message_id.startswith("2433:")
    [sent] = standins.tencent.sent
    assert sent["PhoneNumberSet"] == ["+8613800000000"]
    assert sent["TemplateParamSet"] == ["1234"]
    assert sent["SessionContext"] == "attempt-9"
    assert sent["SmsSdkAppId"] == standins.tencent.sdk_app_id


async def test_positional_params_in_key_order(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    await adapters["tencent-sms"].send(
        "13800000000", Message("", params={"2": "三点", "1": "会议"})
    )
    assert standins.tencent.sent[0]["TemplateParamSet"] == ["会议", "三点"]


async def test_signature_expired_is_resigned(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    standins.tencent.faults.inject("expired_token")
    assert (await adapters["tencent-sms"].send("13800000000", Message("1"))).message_id
    assert standins.tencent.requests == 2


async def test_request_limit_is_retried(
    adapters: dict[str, Adapter], standins: Standins, clock: ManualClock
) -> None:
    standins.tencent.faults.inject("rate_limited")
    assert (await adapters["tencent-sms"].send("13800000000", Message("1"))).message_id
    assert clock.sleeps == [0.25]


async def test_rate_limit_exhausts_retries(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    standins.tencent.faults.inject("rate_limited", 3)
    with pytest.raises(RateLimitedError) as caught:
        await adapters["tencent-sms"].send("13800000000", Message("1"))
    assert caught.value.code == "RequestLimitExceeded" and caught.value.retryable


async def test_invalid_number_per_number_status(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    standins.tencent.faults.inject("invalid_number")
    with pytest.raises(RecipientError) as caught:
        await adapters["tencent-sms"].send("13800000000", Message("1"))
    assert caught.value.code == "InvalidParameterValue.IncorrectPhoneNumber"
    assert standins.tencent.requests == 1


async def test_5xx_is_transient(adapters: dict[str, Adapter], standins: Standins) -> None:
    standins.tencent.faults.inject("server_error", 3)
    with pytest.raises(TransientProviderError):
        await adapters["tencent-sms"].send("13800000000", Message("1"))
    assert standins.tencent.requests == 3


async def test_timeout(standins: Standins, clock: ManualClock) -> None:
    config = standins.config().tencent_sms
    assert config is not None
    adapter = TencentSmsAdapter(config, make_runtime(clock, timeout=0.2))
    standins.tencent.faults.inject("timeout")
    try:
        with pytest.raises(SendTimeoutError):
            await adapter.send("13800000000", Message("1"))
    finally:
        await adapter.aclose()
    assert standins.tencent.requests == 1


async def test_wrong_key_and_clock_skew(standins: Standins, clock: ManualClock) -> None:
    config = standins.config().tencent_sms
    assert config is not None
    runtime = make_runtime(clock, attempts=1)
    wrong = TencentSmsAdapter(replace(config, secret_key=Secret("nope")), runtime)
    skewed = TencentSmsAdapter(config, replace(runtime, wall=lambda: time.time() + 600))
    try:
        with pytest.raises(AuthenticationError, match="SignatureFailure"):
            await wrong.send("13800000000", Message("1"))
        with pytest.raises(TokenExpiredError, match="SignatureExpire"):
            await skewed.send("13800000000", Message("1"))
        assert not (await wrong.check()).ok
    finally:
        await wrong.aclose()
        await skewed.aclose()


async def test_local_limits(adapters: dict[str, Adapter], standins: Standins) -> None:
    with pytest.raises(ValidationError, match="511 bytes"):
        await adapters["tencent-sms"].send("13800000000", Message("1", reference="x" * 600))
    assert standins.tencent.requests == 0


async def test_body_is_compact_utf8_json_as_signed(
    adapters: dict[str, Adapter], standins: Standins
) -> None:
    await adapters["tencent-sms"].send("13800000000", Message("通知"))
    body = orjson.dumps(standins.tencent.sent[0] | {}).decode()
    assert "通知" in body


async def test_check(adapters: dict[str, Adapter]) -> None:
    assert (await adapters["tencent-sms"].check()).ok
