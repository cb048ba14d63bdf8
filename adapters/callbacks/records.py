"""Typed records made from the providers' delivery reports and inbound messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "CallbackFormatError",
    "CallbackRecord",
    "DeliveryReport",
    "DeliveryStatus",
    "InboundMessage",
    "Sink",
]


class CallbackFormatError(ValueError):
    """A callback body does not have the provider's documented shape."""


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The provider's final word on one message to one recipient.

    Match it to the attempt by ``provider_message_id`` (Alibaba ``BizId``,
    Tencent ``SerialNo``, Official Account ``msgid`` — the ``message_id`` of the
    ``SendResult``) and, when the provider echoes it, ``reference`` (Alibaba
    ``OutId``). ``recipient`` is E.164 for SMS and the OpenID for WeChat.
    Reports can repeat: ``dedupe_key`` identifies one.
    """

    provider: str
    provider_message_id: str
    recipient: str
    status: DeliveryStatus
    occurred_at: datetime | None
    error_code: str = ""
    description: str = ""
    reference: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def dedupe_key(self) -> tuple[str, str, str, str]:
        return (self.provider, self.provider_message_id, self.recipient, self.error_code)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a person sent to us (an SMS reply / uplink)."""

    provider: str
    sender: str
    text: str
    received_at: datetime | None
    sign_name: str = ""
    extension: str = ""
    provider_message_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


CallbackRecord = DeliveryReport | InboundMessage
Sink = Callable[[CallbackRecord], Awaitable[None]]
