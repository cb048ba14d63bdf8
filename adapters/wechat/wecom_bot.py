"""WeCom group robot webhook (群机器人): text and markdown, 20 messages/min per robot."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from yarl import URL

from ..config import WecomBotConfig
from ..core.base import ProviderAdapter
from ..core.http import encode_json
from ..core.ratelimit import RateSpec
from ..core.runtime import Runtime
from ..errors import ValidationError
from ..limits import check_bytes
from ..types import AdapterKind, CheckResult, Message, SendResult
from .errors import errcode_body

__all__ = ["PROVIDER", "WecomBotAdapter"]

PROVIDER = "wecom-bot"


class WecomBotAdapter(ProviderAdapter):
    """Posts to the robot's group. ``to`` is a member to mention: a UserID, a mobile
    number, ``@all``, or empty/``-`` for no mention. No delivery reports exist."""

    provider_name: ClassVar[str] = PROVIDER
    adapter_kind: ClassVar[AdapterKind] = "wechat"
    default_limits = (RateSpec(20, 60.0), None)

    def __init__(self, config: WecomBotConfig, runtime: Runtime | None = None) -> None:
        super().__init__(runtime)
        self.config = config

    def prepare(self, to: str, message: Message) -> str:
        if not message.text:
            raise ValidationError("empty message", provider=PROVIDER, code="empty")
        if message.format == "markdown":
            check_bytes(PROVIDER, "markdown", message.text, 4096)
        else:
            check_bytes(PROVIDER, "text", message.text, 2048)
        return "" if to.strip() in ("", "-") else to.strip()

    @staticmethod
    def payload(address: str, message: Message) -> dict[str, Any]:
        if message.format == "markdown":
            content = (
                f"{message.text}\n<@{address}>" if address and address != "@all" else message.text
            )
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
