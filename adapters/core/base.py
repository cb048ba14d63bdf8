"""The template every provider adapter follows: check, limit, send with retries, record."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from typing import ClassVar

from ..errors import AdapterError
from ..masking import mask_address, masked_logger
from ..types import AdapterKind, CheckResult, Message, SendResult
from .breaker import CircuitBreaker
from .http import HttpClient
from .ratelimit import RateLimiter, RateSpec
from .retry import run_with_retries
from .runtime import Runtime

__all__ = ["ProviderAdapter"]

log = masked_logger("adapters")


class ProviderAdapter(ABC):
    """Base of the provider adapters.

    ``send`` fits the message to the provider's limits (``fit``), normalises
    the address and checks the message (``prepare``),
    asks the circuit breaker and the rate limiter, then calls ``send_once``
    with retries; each call of ``send_once`` builds and signs a new request.
    """

    provider_name: ClassVar[str]
    adapter_kind: ClassVar[AdapterKind]
    default_limits: ClassVar[tuple[RateSpec | None, RateSpec | None]] = (None, None)

    def __init__(self, runtime: Runtime | None = None) -> None:
        self.runtime = runtime or Runtime()
        provider_spec, recipient_spec = self.runtime.limits.get(
            self.provider_name, self.default_limits
        )
        self.limiter = RateLimiter(
            self.provider_name, self.runtime.clock, provider_spec, recipient_spec
        )
        self.breaker = CircuitBreaker(self.provider_name, self.runtime.breaker, self.runtime.clock)
        self.http = HttpClient(
            self.provider_name,
            timeout=self.runtime.timeout,
            connect_timeout=self.runtime.connect_timeout,
        )

    @property
    def name(self) -> str:
        return self.provider_name

    @property
    def kind(self) -> AdapterKind:
        return self.adapter_kind

    def fit(self, to: str, message: Message) -> Message:
        """The message with every field fitted to this provider's limits
        (``adapters.limits.LIMITS``), ``tail`` merged into ``text``."""
        return replace(message, text=message.full_text, tail="")

    @abstractmethod
    def prepare(self, to: str, message: Message) -> str:
        """Return the normalised address; raise ``ValidationError`` if unsendable."""

    @abstractmethod
    async def send_once(self, address: str, message: Message) -> SendResult:
        """One signed request (plus at most one token refresh); raise on error."""

    @abstractmethod
    async def check(self) -> CheckResult: ...

    async def send(self, to: str, message: Message) -> SendResult:
        message = self.fit(to, message)
        address = self.prepare(to, message)
        self.breaker.before_call()
        try:
            self.limiter.acquire(address)
        except AdapterError:
            self.breaker.record_neutral()
            raise
        try:
            result = await run_with_retries(
                lambda: self.send_once(address, message),
                self.runtime.retry,
                sleep=self.runtime.sleep,
                random=self.runtime.random,
            )
        except AdapterError as error:
            if error.provider_fault or error.ambiguous:
                self.breaker.record_failure()
            else:
                self.breaker.record_neutral()
            log.warning("send via %s to %s failed: %s", self.name, mask_address(address), error)
            raise
        self.breaker.record_success()
        log.info(
            "sent via %s to %s: message id %s", self.name, mask_address(address), result.message_id
        )
        return result

    async def aclose(self) -> None:
        await self.http.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.provider_name!r})"
