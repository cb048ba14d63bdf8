"""The shared layer without sockets: tokens, retries, buckets, breaker, phone, limits."""

from __future__ import annotations

import asyncio

import pytest

from adapters.core.breaker import BreakerSettings, CircuitBreaker
from adapters.core.ratelimit import RateLimiter, RateSpec, TokenBucket
from adapters.core.retry import RetryPolicy, run_with_retries
from adapters.core.tokens import AccessToken, TokenCache
from adapters.errors import (
    AdapterError,
    CircuitOpenError,
    RateLimitedError,
    RecipientError,
    TransientProviderError,
)
from adapters.limits import check_oa_values, check_sms_params
from adapters.phone import normalize_phone, to_aliyun, to_tencent

from .conftest import ManualClock


async def test_token_cache_single_flight_and_compare_and_clear(clock: ManualClock) -> None:
    fetches = 0
    gate = asyncio.Event()

    async def fetch() -> AccessToken:
        nonlocal fetches
        fetches += 1
        await gate.wait()
        return AccessToken(f"t{fetches}", 7200)

    cache = TokenCache(fetch, clock)
    waiters = [asyncio.ensure_future(cache.get()) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert set(await asyncio.gather(*waiters)) == {"t1"}
    cache.invalidate("stale-token")  # not the cached one: kept
    assert await cache.get() == "t1" and fetches == 1
    cache.invalidate("t1")
    assert await cache.get() == "t2"
    clock.advance(7200 - 720 + 1)
    assert await cache.get() == "t3"
    assert "t3" not in repr(AccessToken("t3", 1))


async def test_token_cache_failure_is_shared_and_not_cached(clock: ManualClock) -> None:
    calls = 0

    async def fetch() -> AccessToken:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TransientProviderError("busy")
        return AccessToken("ok", 300)

    cache = TokenCache(fetch, clock)
    with pytest.raises(TransientProviderError):
        await cache.get()
    assert await cache.get() == "ok"


async def test_retries_only_retryable_errors() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise TransientProviderError("5xx")
        return "done"

    policy = RetryPolicy(attempts=3, base=1.0, cap=10.0)
    assert await run_with_retries(flaky, policy, sleep=sleep, random=lambda: 1.0) == "done"
    assert sleeps == [1.0, 2.0]

    async def permanent() -> str:
        raise RecipientError("no")

    with pytest.raises(RecipientError):
        await run_with_retries(permanent, policy, sleep=sleep, random=lambda: 1.0)
    assert sleeps == [1.0, 2.0]


def test_backoff_is_capped_jittered_and_honours_hints() -> None:
    policy = RetryPolicy(attempts=5, base=0.5, cap=4.0)
    assert [policy.delay(n, 1.0, None) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.delay(2, 0.25, None) == 0.5
    assert policy.delay(0, 1.0, 3.0) == 3.0
    assert policy.delay(0, 1.0, 60.0) is None


def test_token_bucket_with_manual_clock(clock: ManualClock) -> None:
    bucket = TokenBucket(RateSpec(2, 10.0), clock)
    assert bucket.try_take() == 0.0 and bucket.try_take() == 0.0
    assert bucket.try_take() == pytest.approx(5.0)
    clock.advance(5.0)
    assert bucket.try_take() == 0.0


def test_rate_limiter_provider_and_recipient(clock: ManualClock) -> None:
    limiter = RateLimiter("p", clock, RateSpec(3, 1.0), RateSpec(1, 60.0))
    limiter.acquire("a")
    with pytest.raises(RateLimitedError, match="per-recipient") as caught:
        limiter.acquire("a")
    assert caught.value.code == "local_recipient_limit"
    limiter.acquire("b")
    limiter.acquire("c")
    with pytest.raises(RateLimitedError, match="local rate limit"):
        limiter.acquire("d")


def test_circuit_breaker_states(clock: ManualClock) -> None:
    breaker = CircuitBreaker("p", BreakerSettings(failure_threshold=2, reset_timeout=10), clock)
    breaker.before_call()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.retry_after == 10 and caught.value.fails_over
    clock.advance(10)
    assert str(breaker.state) == "half-open"
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # only one probe at a time
    breaker.record_failure()
    assert breaker.state == "open"
    clock.advance(10)
    breaker.before_call()
    breaker.record_success()
    assert str(breaker.state) == "closed"


@pytest.mark.parametrize(
    "raw",
    ["13800000000", "+8613800000000", "008613800000000", "8613800000000", "138 0000-0000"],
)
def test_mainland_numbers_normalise_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+8613800000000"


@pytest.mark.parametrize("raw", ["12800000000", "1380000000", "+86123", "abc", "", "+0123"])
def test_invalid_numbers_are_refused(raw: str) -> None:
    with pytest.raises(AdapterError, match="not a valid phone number"):
        normalize_phone(raw)


def test_international_and_provider_forms() -> None:
    assert normalize_phone("00852 6123 4567") == "+85261234567"
    assert to_aliyun("+85261234567") == "85261234567"
    assert to_aliyun("+8613800000000") == "13800000000"
    assert to_tencent("+8613800000000") == "+8613800000000"


def test_limits_messages_are_clear() -> None:
    with pytest.raises(AdapterError, match="parameter #2 is 7 characters, the limit is 6"):
        check_sms_params("p", "签名", ["ok", "1234567"], 6)
    with pytest.raises(AdapterError, match="signature \\+ template parameters"):
        check_sms_params("p", "签名", ["x" * 300, "y" * 300], 400)
    with pytest.raises(AdapterError, match="empty"):
        check_oa_values("p", {})
    check_oa_values("p", {"thing1": "二十个字" * 5, "keyword1": "旧模板的值没有类型限制"})
