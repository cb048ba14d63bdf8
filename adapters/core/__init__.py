"""The shared sending layer: HTTP, tokens, retries, rate limits, circuit breaking."""

from __future__ import annotations

from .breaker import CircuitBreaker
from .failover import FailoverAdapter
from .ratelimit import KeyedTokenBucket, RateLimiter, TokenBucket
from .retry import RetryPolicy
from .runtime import Runtime
from .tokens import AccessToken, TokenCache

__all__ = [
    "AccessToken",
    "CircuitBreaker",
    "FailoverAdapter",
    "KeyedTokenBucket",
    "RateLimiter",
    "RetryPolicy",
    "Runtime",
    "TokenBucket",
    "TokenCache",
]
