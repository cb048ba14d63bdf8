"""Fixtures: stand-ins on real loopback sockets, a manual clock, fast runtimes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from adapters.core.breaker import BreakerSettings
from adapters.core.ratelimit import RateSpec
from adapters.core.retry import RetryPolicy
from adapters.core.runtime import Runtime
from adapters.registry import aclose_all, build_adapters
from adapters.standin import Standins, start_standins
from adapters.types import Adapter


class ManualClock:
    """A monotonic clock moved by hand; ``sleep`` advances it without waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make_runtime(
    clock: ManualClock,
    *,
    timeout: float = 5.0,
    limits: dict[str, tuple[RateSpec | None, RateSpec | None]] | None = None,
    attempts: int = 3,
    failure_threshold: int = 3,
) -> Runtime:
    unlimited = (RateSpec(100_000, 1.0), RateSpec(100_000, 1.0))
    names = ("aliyun-sms", "tencent-sms", "wecom", "wecom-bot", "wechat")
    return Runtime(
        clock=clock,
        wall=time.time,
        sleep=clock.sleep,
        random=lambda: 0.5,
        timeout=timeout,
        connect_timeout=timeout,
        retry=RetryPolicy(attempts=attempts, base=0.5, cap=4.0),
        breaker=BreakerSettings(failure_threshold=failure_threshold, reset_timeout=30.0),
        limits={name: unlimited for name in names} | (limits or {}),
    )


@pytest.fixture
def runtime(clock: ManualClock) -> Runtime:
    return make_runtime(clock)


@pytest.fixture
async def standins() -> AsyncIterator[Standins]:
    running = await start_standins()
    try:
        yield running
    finally:
        await running.close()


async def wait_for(
    condition: Callable[[], bool] | Callable[[], Awaitable[bool]], deadline: float = 5.0
) -> None:
    """Poll ``condition`` until true or fail after ``deadline`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > end:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.005)


@pytest.fixture
async def adapters(standins: Standins, runtime: Runtime) -> AsyncIterator[dict[str, Adapter]]:
    built = build_adapters(standins.config(), runtime)
    try:
        yield built
    finally:
        await aclose_all(built)
