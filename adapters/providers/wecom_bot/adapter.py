"""WeCom group robot webhook (群机器人): text and markdown, 20 messages/min per robot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from yarl import URL

from ...core.base import ProviderAdapter
from ...core.http import encode_json
from ...core.ratelimit import RateSpec
from ...core.runtime import Runtime
from ...core.wechat_errors import errcode_body
from ...errors import ValidationError
from ...limits import LIMITS, check, fit, measure
from ...masking import Secret
from ...types import AdapterKind, CheckResult, Message, SendResult

__all__ = ["PROVIDER", "WecomBotAdapter", "WecomBotConfig"]

PROVIDER = "wecom-bot"


@dataclass(frozen=True)
class WecomBotConfig:
    """The settings ``HUB_WECOM_BOT_<FIELD>`` (``adapters.core.settings``)."""

    key: Secret
    endpoint: str = "https://qyapi.weixin.qq.com"


class WecomBotAdapter(ProviderAdapter):
    """Posts to the robot's group. ``to`` is a member to mention: a UserID, a mobile
    number, ``@all``, or empty/``-`` for no mention. No delivery reports exist."""

    provider_name: ClassVar[str] = PROVIDER
    adapter_kind: ClassVar[AdapterKind] = "wechat"
    default_limits = (RateSpec(20, 60.0), None)

    def __init__(self, config: WecomBotConfig, runtime: Runtime | None = None) -> None:
        super().__init__(runtime)
        self.config = config

    @staticmethod
    def _address(to: str) -> str:
        return "" if to.strip() in ("", "-") else to.strip()

    @staticmethod
    def _mention(address: str, message: Message) -> str:
        """What ``payload`` appends to a markdown text to mention the member."""
        if message.format == "markdown" and address and address != "@all":
            return f"\n<@{address}>"
        return ""

    def fit(self, to: str, message: Message) -> Message:
        field = LIMITS[PROVIDER]["markdown" if message.format == "markdown" else "text"]
        mention = measure(self._mention(self._address(to), message), field.unit)
        room = max(0, field.limit - mention)
        return replace(
            message, text=fit(message.text, room, field.unit, tail=message.tail), tail=""
        )

    def prepare(self, to: str, message: Message) -> str:
        if not message.text:
            raise ValidationError("empty message", provider=PROVIDER, code="empty")
        address = self._address(to)
        kind = "markdown" if message.format == "markdown" else "text"
        content = message.text + self._mention(address, message)
        check(PROVIDER, kind, content, LIMITS[PROVIDER][kind])
        return address

    @staticmethod
    def payload(address: str, message: Message) -> dict[str, Any]:
        if message.format == "markdown":
            content = message.text + WecomBotAdapter._mention(address, message)
            return {"msgtype": "markdown", "markdown": {"content": content}}
        text: dict[str, Any] = {"content": message.text}
        if address.lstrip("+").isdigit():
            text["mentioned_mobile_list"] = [address]
        elif address:
            text["mentioned_list"] = [address]
        return {"msgtype": "text", "text": text}

    async def send_once(self, address: str, message: Message) -> SendResult:
        url = URL(self.config.endpoint + "/cgi-bin/webhook/send").with_query(
            key=self.config.key.reveal()
        )
        response = await self.http.request(
            "POST",
            url,
            headers={"Content-Type": "application/json"},
            body=encode_json(self.payload(address, message)),
        )
        body = dict(errcode_body(PROVIDER, response))
        # the robot API returns no message id: synthesise a unique one
        message_id = f"bot-{uuid.uuid4().hex}"
        return SendResult(PROVIDER, message_id, address, body)

    async def check(self) -> CheckResult:
        key = self.config.key.reveal()
        if "/" in key or "?" in key or len(key) < 8:
            return CheckResult(
                PROVIDER, False, "HUB_WECOM_BOT_KEY must be the key= value only, not the URL"
            )
        return CheckResult(
            PROVIDER,
            True,
            "key is well-formed (the robot API has no call that proves it without posting)",
        )
