"""The adapter interface and the values that cross it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "Adapter",
    "AdapterKind",
    "CheckResult",
    "Message",
    "MessageFormat",
    "SendResult",
]

MessageFormat = Literal["text", "markdown", "textcard", "template", "subscription"]
AdapterKind = Literal["sms", "wechat", "log"]


@dataclass(frozen=True, slots=True)
class Message:
    """What to send. Each provider uses the parts it supports.

    * SMS: the configured template (or ``template``) filled from ``params``;
      with no ``params`` the text fills the template's single variable
      (Alibaba ``${content}``, Tencent ``{1}``).
    * WeCom app: ``format`` text / markdown / textcard (``title`` and ``url``).
    * WeCom robot: text / markdown.
    * Official Account: template message (``format`` text or template) or
      subscription message (``format`` subscription); ``params`` fill ``data``.

    ``reference`` is the caller's attempt id: it travels as Alibaba ``OutId``,
    Tencent ``SessionContext`` and Official Account ``client_msg_id``.

    Every text is fitted to the provider's limit for its field, in the
    provider's unit (see ``adapters.limits``): a longer ``text`` is cut at a
    character boundary and ends with ``…``; ``tail`` is appended to ``text`` and
    always kept whole (e.g. ``请点击签收。`` after a cut notice body).
    """

    text: str
    params: Mapping[str, str] = field(default_factory=dict)
    title: str | None = None
    url: str | None = None
    format: MessageFormat = "text"
    template: str | None = None
    reference: str | None = None
    tail: str = ""

    @property
    def full_text(self) -> str:
        """``text`` followed by ``tail``: what is sent when nothing needs cutting."""
        return self.text + self.tail


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider accepted the message; ``message_id`` is its id for reports."""

    provider: str
    message_id: str
    recipient: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of ``Adapter.check()``: whether configuration and credentials work."""

    provider: str
    ok: bool
    detail: str


@runtime_checkable
class Adapter(Protocol):
    """Sends one message to one recipient through one provider (or a failover group)."""

    @property
    def name(self) -> str:
        """Provider name, e.g. ``aliyun-sms``."""
        ...

    @property
    def kind(self) -> AdapterKind:
        """``sms``, ``wechat`` or ``log``: providers of one kind can replace each other."""
        ...

    async def send(self, to: str, message: Message) -> SendResult:
        """Send; return the provider's answer or raise an ``AdapterError``."""
        ...

    async def check(self) -> CheckResult:
        """Verify configuration and credentials without sending a message."""
        ...

    async def aclose(self) -> None:
        """Release connections. Idempotent."""
        ...
