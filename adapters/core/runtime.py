"""Everything an adapter takes from its surroundings, injectable for tests."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from .breaker import BreakerSettings
from .ratelimit import RateSpec
from .retry import RetryPolicy

__all__ = ["Clock", "Runtime", "Sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Runtime:
    """Clocks, sleeping, randomness, timeouts and the policies of the shared layer.

    ``clock`` is monotonic (token expiry, buckets, breaker); ``wall`` is UNIX
    time (request timestamps). ``limits`` overrides a provider's default
    ``(provider_spec, recipient_spec)`` by provider name.
    """

    clock: Clock = time.monotonic
    wall: Clock = time.time
    sleep: Sleep = asyncio.sleep
    random: Callable[[], float] = random.random
    timeout: float = 10.0
    connect_timeout: float = 5.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    limits: Mapping[str, tuple[RateSpec | None, RateSpec | None]] = field(default_factory=dict)
