"""Every stand-in error class, for every provider, maps to the documented error type."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.core.standin import StandinServer
from adapters.errors import (
    AdapterError,
    RateLimitedError,
    RecipientError,
    SendTimeoutError,
    TransientProviderError,
)
from adapters.registry import aclose_all, build_adapters
from adapters.standin import FaultKind, Faults, Standins, start_standins
from adapters.types import Adapter, Message

from .conftest import ManualClock, make_runtime

TARGETS = {
    "aliyun-sms": ("13800000000", Message("x")),
    "tencent-sms": ("13800000000", Message("1")),
    "wecom": ("zhangsan", Message("x")),
    "wecom-bot": ("-", Message("x")),
    "wechat": ("oia2TjuEGTNoeX76QEjQNrcURxG8", Message("x")),
}
EXPECTED: dict[FaultKind, type[AdapterError] | None] = {
    "expired_token": None,  # refreshed or re-signed, then accepted
    "rate_limited": RateLimitedError,
    "invalid_number": RecipientError,
    "server_error": TransientProviderError,
    "timeout": SendTimeoutError,
}


def _faults(standins: Standins, provider: str) -> Faults:
    servers: dict[str, StandinServer] = {
        "aliyun-sms": standins.aliyun,
        "tencent-sms": standins.tencent,
        "wecom": standins.wecom,
        "wecom-bot": standins.wecom,
        "wechat": standins.wechat,
    }
    return servers[provider].faults


@pytest.fixture
async def fast(clock: ManualClock) -> AsyncIterator[tuple[Standins, dict[str, Adapter]]]:
    standins = await start_standins()
    built = build_adapters(standins.config(), make_runtime(clock, timeout=0.3))
    try:
        yield standins, built
    finally:
        await aclose_all(built)
        await standins.close()


# the robot has no token to expire and no recipient that could be invalid
CASES = [
    (provider, fault)
    for provider in TARGETS
    for fault in EXPECTED
    if not (provider == "wecom-bot" and fault in ("expired_token", "invalid_number"))
]


@pytest.mark.parametrize(("provider", "fault"), CASES)
async def test_error_class(
    fast: tuple[Standins, dict[str, Adapter]], provider: str, fault: FaultKind
) -> None:
    standins, built = fast
    faults = _faults(standins, provider)
    count = 3 if fault in ("server_error", "rate_limited") else 1
    faults.inject(fault, count)
    to, message = TARGETS[provider]
    expected = EXPECTED[fault]
    if expected is None:
        assert (await built[provider].send(to, message)).message_id
        return
    with pytest.raises(expected) as caught:
        await built[provider].send(to, message)
    assert caught.value.provider == provider
    assert caught.value.retryable == (fault in ("rate_limited", "server_error"))
