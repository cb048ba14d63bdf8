"""Outbound delivery through SMS and WeChat providers. Knows nothing of the hub.

The domain layer uses ``build_adapters(load_config(env))`` to get an ``Adapter``
per provider (plus the ``sms`` failover group), sends ``Message`` values,
gets ``SendResult`` or an ``AdapterError``, and mounts ``callback_routes(sink)``
to receive ``DeliveryReport`` / ``InboundMessage`` records.
"""

from __future__ import annotations

from .callbacks import (
    CallbackRecord,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    Sink,
    add_callback_routes,
    callback_routes,
)
from .config import AdaptersConfig, CallbacksConfig, load_config
from .core.runtime import Runtime
from .errors import (
    AdapterError,
    AuthenticationError,
    CircuitOpenError,
    ConfigurationError,
    ProviderError,
    RateLimitedError,
    RecipientError,
    RejectedError,
    SendTimeoutError,
    TokenExpiredError,
    TransientProviderError,
    TransportError,
    UnavailableError,
    ValidationError,
)
from .masking import Secret, mask_text, masked_logger
from .registry import CALLBACK_PROVIDERS, PROVIDERS, SMS_GROUP, aclose_all, build_adapters
from .types import Adapter, CheckResult, Message, SendResult

__all__ = [
    "CALLBACK_PROVIDERS",
    "PROVIDERS",
    "SMS_GROUP",
    "Adapter",
    "AdapterError",
    "AdaptersConfig",
    "AuthenticationError",
    "CallbackRecord",
    "CallbacksConfig",
    "CheckResult",
    "CircuitOpenError",
    "ConfigurationError",
    "DeliveryReport",
    "DeliveryStatus",
    "InboundMessage",
    "Message",
    "ProviderError",
    "RateLimitedError",
    "RecipientError",
    "RejectedError",
    "Runtime",
    "Secret",
    "SendResult",
    "SendTimeoutError",
    "Sink",
    "TokenExpiredError",
    "TransientProviderError",
    "TransportError",
    "UnavailableError",
    "ValidationError",
    "aclose_all",
    "add_callback_routes",
    "build_adapters",
    "callback_routes",
    "load_config",
    "mask_text",
    "masked_logger",
]
