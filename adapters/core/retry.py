"""Retries with capped exponential backoff and full jitter, for retryable errors only."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import AdapterError

__all__ = ["RetryPolicy", "run_with_retries"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` in total; delay ``random() * min(cap, base * 2**n)``.

    A provider's ``retry_after`` hint replaces the computed delay; an error
    whose hint exceeds ``cap`` is not retried here (the caller escalates).
    """

    attempts: int = 3
    base: float = 0.5
    cap: float = 4.0

    def delay(self, retry_number: int, jitter: float, hint: float | None) -> float | None:
        if hint is not None:
            return hint if hint <= self.cap else None
        return jitter * min(self.cap, math.ldexp(self.base, retry_number))


async def run_with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]],
    random: Callable[[], float],
) -> T:
    """Call ``attempt`` (which builds and signs a fresh request) until it succeeds."""
    retry_number = 0
    while True:
        try:
            return await attempt()
        except AdapterError as error:
            if not error.retryable or retry_number + 1 >= policy.attempts:
                raise
            delay = policy.delay(retry_number, random(), error.retry_after)
            if delay is None:
                raise
            retry_number += 1
            await sleep(delay)
