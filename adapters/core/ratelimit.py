"""Token buckets: one per provider and one per recipient."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import RateLimitedError
from ..masking import mask_address

__all__ = ["KeyedTokenBucket", "RateLimiter", "RateSpec", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class RateSpec:
    """``capacity`` sends per ``per_seconds``, refilled continuously, burst ``capacity``."""

    capacity: int
    per_seconds: float

    @property
    def rate(self) -> float:
        return self.capacity / self.per_seconds


class TokenBucket:
    __slots__ = ("_clock", "_spec", "_stamp", "_tokens")

    def __init__(self, spec: RateSpec, clock: Callable[[], float]) -> None:
        self._spec = spec
        self._clock = clock
        self._tokens = float(spec.capacity)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(float(self._spec.capacity), self._tokens + elapsed * self._spec.rate)

    def try_take(self) -> float:
        """Take one token; return 0.0 on success, else the seconds until one is free."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._spec.rate

    def give_back(self) -> None:
        self._tokens = min(float(self._spec.capacity), self._tokens + 1.0)

    @property
    def full(self) -> bool:
        self._refill()
        return self._tokens >= self._spec.capacity


class KeyedTokenBucket:
    """One bucket per key, created on demand; full buckets are dropped to bound memory."""

    def __init__(self, spec: RateSpec, clock: Callable[[], float], max_keys: int = 10_000):
        self._spec = spec
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, key: str) -> TokenBucket:
        found = self._buckets.get(key)
        if found is None:
            if len(self._buckets) >= self._max_keys:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.full}
            found = self._buckets[key] = TokenBucket(self._spec, self._clock)
        return found


class RateLimiter:
    """Checks the provider bucket and the recipient bucket; raises when either is empty."""

    def __init__(
        self,
        provider: str,
        clock: Callable[[], float],
        provider_spec: RateSpec | None,
        recipient_spec: RateSpec | None,
    ) -> None:
        self._provider = provider
        self._global = TokenBucket(provider_spec, clock) if provider_spec else None
        self._recipients = KeyedTokenBucket(recipient_spec, clock) if recipient_spec else None

    def acquire(self, recipient: str) -> None:
        if self._global is not None:
            wait = self._global.try_take()
            if wait:
                raise RateLimitedError(
                    f"local rate limit for {self._provider} reached",
                    provider=self._provider,
                    code="local_rate_limit",
                    retry_after=wait,
                )
        if self._recipients is not None:
            wait = self._recipients.bucket(recipient).try_take()
            if wait:
                if self._global is not None:
                    self._global.give_back()
                raise RateLimitedError(
                    f"local per-recipient limit reached for {mask_address(recipient)}",
                    provider=self._provider,
                    code="local_recipient_limit",
                    retry_after=wait,
                )
