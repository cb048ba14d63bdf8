"""Access tokens cached per credential, refreshed once (single flight) before expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["AccessToken", "TokenCache"]


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    expires_in: float

    def __repr__(self) -> str:
        return f"AccessToken(value='***', expires_in={self.expires_in:g})"


class TokenCache:
    """Holds one token; concurrent callers share a single in-flight fetch.

    A token is refreshed when less than ``max(300 s, 10 % of its lifetime)``
    remains (at most half its lifetime), and on demand via ``invalidate``,
    which only clears the cached token if it is still the one that failed.
    """

    def __init__(
        self, fetch: Callable[[], Awaitable[AccessToken]], clock: Callable[[], float]
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._inflight: asyncio.Future[str] | None = None

    async def get(self) -> str:
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._refresh())
        # shield: one caller being cancelled must not cancel the shared fetch
        return await asyncio.shield(self._inflight)

    def invalidate(self, token: str) -> None:
        """Compare-and-clear: forget ``token`` if it is still the cached one."""
        if self._token == token:
            self._token = None

    async def _refresh(self) -> str:
        try:
            started = self._clock()
            fresh = await self._fetch()
            lifetime = max(fresh.expires_in, 0.0)
            margin = min(max(300.0, lifetime * 0.1), lifetime / 2)
            self._token = fresh.value
            self._refresh_at = started + lifetime - margin
            return fresh.value
        finally:
            self._inflight = None
