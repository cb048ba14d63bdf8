"""A circuit breaker: closed → open after repeated provider faults → half-open probe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..errors import CircuitOpenError

__all__ = ["BreakerSettings", "CircuitBreaker", "CircuitState"]

CircuitState = Literal["closed", "open", "half-open"]


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    failure_threshold: int = 5
    reset_timeout: float = 30.0


class CircuitBreaker:
    def __init__(
        self, provider: str, settings: BreakerSettings, clock: Callable[[], float]
    ) -> None:
        self._provider = provider
        self._settings = settings
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._settings.reset_timeout:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        """Raise ``CircuitOpenError`` unless a call may go out (one probe when half-open)."""
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self._probing:
            self._probing = True
            return
        assert self._opened_at is not None
        remaining = self._settings.reset_timeout - (self._clock() - self._opened_at)
        raise CircuitOpenError(
            f"circuit open after {self._failures} consecutive provider failures",
            provider=self._provider,
            code="circuit_open",
            retry_after=max(remaining, 0.0),
        )

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self._settings.failure_threshold:
            self._opened_at = self._clock()
        self._probing = False

    def record_neutral(self) -> None:
        """The call ended with an error that says nothing about provider health."""
        if self._probing:
            self.record_success()
