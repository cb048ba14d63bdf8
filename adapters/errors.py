"""One exception hierarchy for every adapter.

::

    AdapterError                      .retryable .provider_fault .ambiguous
    ├── ConfigurationError            bad or missing configuration (never retryable)
    ├── ValidationError               refused locally before sending (number, length, params)
    ├── UnavailableError              not sent: the adapter is holding back (retryable)
    │   ├── RateLimitedError          local token bucket empty or provider throttling
    │   └── CircuitOpenError          the provider's circuit breaker is open
    ├── TransportError                connection failed before an answer (retryable)
    │   └── SendTimeoutError          no answer in time; the message may have gone out
    └── ProviderError                 the provider answered with an error code
        ├── TransientProviderError    5xx, "system busy", internal errors (retryable)
        ├── TokenExpiredError         access token or signature time rejected (refresh once)
        ├── AuthenticationError       credentials or signature rejected (operator alert)
        ├── RecipientError            this recipient cannot be reached by this provider
        └── RejectedError             any other permanent refusal (template, quota, content)

``retryable`` says whether sending the same message again later may succeed.
``provider_fault`` says whether the error counts against the provider's health
(circuit breaker, failover). ``ambiguous`` says the provider may have accepted
the message although no answer arrived: do not resend blindly.
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "AuthenticationError",
    "CircuitOpenError",
    "ConfigurationError",
    "ProviderError",
    "RateLimitedError",
    "RecipientError",
    "RejectedError",
    "SendTimeoutError",
    "TokenExpiredError",
    "TransientProviderError",
    "TransportError",
    "UnavailableError",
    "ValidationError",
]


class AdapterError(Exception):
    """Base class: ``provider`` failed with ``code`` (the provider's code or ours)."""

    retryable: bool = False
    provider_fault: bool = False
    ambiguous: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        code: str = "",
        retry_after: float | None = None,
        retryable: bool | None = None,
        provider_fault: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.code = code
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable
        if provider_fault is not None:
            self.provider_fault = provider_fault

    @property
    def fails_over(self) -> bool:
        """True when another provider of the same kind should be tried."""
        return self.provider_fault and not self.ambiguous

    def describe(self) -> str:
        """One line for operators: class, provider, code, retryability and message."""
        parts = [type(self).__name__]
        if self.provider:
            parts.append(f"provider={self.provider}")
        if self.code:
            parts.append(f"code={self.code}")
        parts.append(f"retryable={'yes' if self.retryable else 'no'}")
        if self.retry_after is not None:
            parts.append(f"retry_after={self.retry_after:g}s")
        return f"{' '.join(parts)}: {self.message}"

    def __str__(self) -> str:
        return self.describe()


class ConfigurationError(AdapterError):
    """The configuration is incomplete or invalid; nothing was sent."""


class ValidationError(AdapterError):
    """The message or address was refused locally; nothing was sent."""


class UnavailableError(AdapterError):
    """Nothing was sent because the adapter is holding back; try later."""

    retryable = True


class RateLimitedError(UnavailableError):
    """A rate limit (ours or the provider's) was hit; ``retry_after`` when known."""

    provider_fault = True


class CircuitOpenError(UnavailableError):
    """The provider failed repeatedly; its circuit breaker is open."""

    provider_fault = True


class TransportError(AdapterError):
    """The request failed before any answer (connection refused, reset, DNS)."""

    retryable = True
    provider_fault = True


class SendTimeoutError(TransportError):
    """No answer in time. The provider may have accepted the message."""

    retryable = False
    ambiguous = True


class ProviderError(AdapterError):
    """The provider answered with an error code."""


class TransientProviderError(ProviderError):
    """A temporary provider-side failure (5xx, busy, internal error)."""

    retryable = True
    provider_fault = True


class TokenExpiredError(ProviderError):
    """An access token or the request time was rejected; refresh and retry once."""

    retryable = True


class AuthenticationError(ProviderError):
    """Credentials, signature or permissions were rejected; an operator must act."""

    provider_fault = True


class RecipientError(ProviderError):
    """This recipient cannot be reached through this provider (invalid, blocked, capped)."""


class RejectedError(ProviderError):
    """Any other permanent refusal: template, signature name, content, quota."""
