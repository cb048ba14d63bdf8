"""Circuit breaker and failover between the two SMS vendors, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.core.failover import FailoverAdapter
from adapters.errors import ConfigurationError, RecipientError, SendTimeoutError
from adapters.log import LogAdapter
from adapters.registry import aclose_all, build_adapters
from adapters.standin import Standins
from adapters.types import Adapter, Message

from .conftest import ManualClock, make_runtime


@pytest.fixture
async def group(
    standins: Standins, clock: ManualClock
) -> AsyncIterator[tuple[Adapter, dict[str, Adapter]]]:
    runtime = make_runtime(clock, attempts=2, failure_threshold=2, timeout=0.3)
    built = build_adapters(standins.config(), runtime)
    try:
        yield built["sms"], built
    finally:
        await aclose_all(built)


async def test_fails_over_to_the_next_vendor(
    group: tuple[Adapter, dict[str, Adapter]], standins: Standins
) -> None:
    sms, _ = group
    standins.aliyun.faults.inject("server_error", 2)
    result = await sms.send("13800000000", Message("1234"))
    assert result.provider == "tencent-sms"
    assert standins.aliyun.requests == 2 and len(standins.tencent.sent) == 1


async def test_open_circuit_skips_the_failing_vendor_until_reset(
    group: tuple[Adapter, dict[str, Adapter]], standins: Standins, clock: ManualClock
) -> None:
    sms, _ = group
    standins.aliyun.faults.inject("server_error", 4)
    await sms.send("13800000000", Message("1"))
    await sms.send("13800000000", Message("2"))  # second failure: the circuit opens
    assert standins.aliyun.requests == 4
    result = await sms.send("13800000000", Message("3"))
    assert result.provider == "tencent-sms"
    assert standins.aliyun.requests == 4  # not even tried
    clock.advance(30.0)  # half-open: one probe goes to Alibaba again, and succeeds
    result = await sms.send("13800000000", Message("4"))
    assert result.provider == "aliyun-sms"
    assert standins.aliyun.requests == 5
    assert len(standins.tencent.sent) == 3


async def test_recipient_errors_do_not_fail_over(
    group: tuple[Adapter, dict[str, Adapter]], standins: Standins
) -> None:
    sms, _ = group
    standins.aliyun.faults.inject("invalid_number")
    with pytest.raises(RecipientError):
        await sms.send("13800000000", Message("1"))
    assert standins.tencent.requests == 0


async def test_timeouts_do_not_fail_over(
    group: tuple[Adapter, dict[str, Adapter]], standins: Standins
) -> None:
    sms, _ = group
    standins.aliyun.faults.inject("timeout")
    with pytest.raises(SendTimeoutError):
        await sms.send("13800000000", Message("1"))
    assert standins.tencent.requests == 0


async def test_all_vendors_down_raises_the_last_error(
    group: tuple[Adapter, dict[str, Adapter]], standins: Standins
) -> None:
    sms, _ = group
    standins.aliyun.faults.inject("server_error", 2)
    standins.tencent.faults.inject("server_error", 2)
    with pytest.raises(Exception) as caught:
        await sms.send("13800000000", Message("1"))
    assert getattr(caught.value, "provider", "") == "tencent-sms"


async def test_group_check_and_validation() -> None:
    with pytest.raises(ConfigurationError):
        FailoverAdapter("empty", [])
    group = FailoverAdapter("logs", [LogAdapter("a"), LogAdapter("b")])
    result = await group.check()
    assert result.ok and "a: ok" in result.detail
    assert (await group.send("x", Message("y"))).provider == "a"
