"""WeCom (企业微信) application messages: gettoken + message/send (text, textcard, markdown)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from yarl import URL

from ...core.base import ProviderAdapter
from ...core.http import encode_json
from ...core.ratelimit import RateSpec
from ...core.runtime import Runtime
from ...core.tokens import AccessToken, TokenCache
from ...core.wechat_errors import errcode_body
from ...errors import AdapterError, RecipientError, ValidationError
from ...limits import LIMITS, check, fit
from ...masking import Secret
from ...types import AdapterKind, CheckResult, Message, SendResult

__all__ = ["PROVIDER", "WecomAdapter", "WecomConfig"]

PROVIDER = "wecom"
DEFAULT_BUTTON = "详情"
DUPLICATE_WINDOW = 600  # seconds (WeCom: default 1800, at most 14400)


@dataclass(frozen=True)
class WecomConfig:
    """The settings ``HUB_WECOM_<FIELD>`` (``adapters.core.settings``)."""

    corp_id: str
    corp_secret: Secret
    agent_id: int
    endpoint: str = "https://qyapi.weixin.qq.com"


class WecomAdapter(ProviderAdapter):
    """Sends to one member (``touser`` = WeCom UserID) through one application."""

    provider_name: ClassVar[str] = PROVIDER
    adapter_kind: ClassVar[AdapterKind] = "wechat"
    # per app per member: 30/min (excess is dropped silently by WeCom)
    default_limits = (RateSpec(500, 60.0), RateSpec(30, 60.0))

    def __init__(self, config: WecomConfig, runtime: Runtime | None = None) -> None:
        super().__init__(runtime)
        self.config = config
        self.tokens = TokenCache(self._fetch_token, self.runtime.clock)

    def fit(self, to: str, message: Message) -> Message:
        limits = LIMITS[PROVIDER]
        if message.format == "textcard":
            title = message.title or ""
            button = message.params.get("btntxt", DEFAULT_BUTTON)
            card = limits["textcard.description"]
            fitted = fit(message.text, card.limit, card.unit, tail=message.tail)
            head = limits["textcard.title"]
            btn = limits["textcard.btntxt"]
            return replace(
                message,
                text=fitted,
                tail="",
                title=fit(title, head.limit, head.unit) if message.title else message.title,
                params={**message.params, "btntxt": fit(button, btn.limit, btn.unit, ellipsis="")},
            )
        field = limits["markdown" if message.format == "markdown" else "text"]
        return replace(
            message, text=fit(message.text, field.limit, field.unit, tail=message.tail), tail=""
        )

    def prepare(self, to: str, message: Message) -> str:
        address = to.strip()
        if not address or any(c in address for c in "|@ \t"):
            raise ValidationError(
                f"not a single WeCom UserID: {to!r}", provider=PROVIDER, code="invalid_userid"
            )
        limits = LIMITS[PROVIDER]
        if message.format == "textcard":
            if not message.title or not message.url:
                raise ValidationError(
                    "a textcard needs a title and a url", provider=PROVIDER, code="textcard"
                )
            check(PROVIDER, "textcard title", message.title, limits["textcard.title"])
            check(PROVIDER, "textcard description", message.text, limits["textcard.description"])
            button = message.params.get("btntxt", DEFAULT_BUTTON)
            check(PROVIDER, "textcard button", button, limits["textcard.btntxt"])
        elif message.format == "markdown":
            check(PROVIDER, "markdown", message.text, limits["markdown"])
        else:
            check(PROVIDER, "text", message.text, limits["text"])
        if not message.text:
            raise ValidationError("empty message", provider=PROVIDER, code="empty")
        return address

    def payload(self, address: str, message: Message) -> dict[str, Any]:
        body: dict[str, Any] = {"touser": address, "agentid": self.config.agent_id}
        if message.reference:
            # an attempt (escalation): WeCom drops an identical request within the
            # interval, so a retry after an answer lost to a 5xx or a timeout does
            # not reach the member twice; another attempt differs (its ack link)
            body.update(enable_duplicate_check=1, duplicate_check_interval=DUPLICATE_WINDOW)
        if message.format == "markdown":
            body.update(msgtype="markdown", markdown={"content": message.text})
        elif message.format == "textcard":
            body.update(
                msgtype="textcard",
                textcard={
                    "title": message.title,
                    "description": message.text,
                    "url": message.url,
                    "btntxt": message.params.get("btntxt", DEFAULT_BUTTON),
                },
            )
        else:
            body.update(msgtype="text", text={"content": message.text})
        return body

    async def send_once(self, address: str, message: Message) -> SendResult:
        body = encode_json(self.payload(address, message))
        answer = await self._with_token(body)
        invalid = str(answer.get("invaliduser", "")).lower().split("|")
        if address.lower() in invalid:
            raise RecipientError(
                "recipient is not a member visible to this application (invaliduser)",
                provider=PROVIDER,
                code="invaliduser",
            )
        return SendResult(PROVIDER, str(answer.get("msgid", "")), address, answer)

    async def _with_token(self, body: bytes) -> dict[str, Any]:
        token = await self.tokens.get()
        try:
            return await self._post(token, body)
        except AdapterError as error:
            if error.code not in ("40014", "42001", "41001"):
                raise
            self.tokens.invalidate(token)
            return await self._post(await self.tokens.get(), body)

    async def _post(self, token: str, body: bytes) -> dict[str, Any]:
        url = URL(self.config.endpoint + "/cgi-bin/message/send").with_query(access_token=token)
        response = await self.http.request(
            "POST", url, headers={"Content-Type": "application/json"}, body=body
        )
        return dict(errcode_body(PROVIDER, response))

    async def _fetch_token(self) -> AccessToken:
        url = URL(self.config.endpoint + "/cgi-bin/gettoken").with_query(
            corpid=self.config.corp_id, corpsecret=self.config.corp_secret.reveal()
        )
        body = errcode_body(PROVIDER, await self.http.request("GET", url))
        return AccessToken(str(body["access_token"]), float(body.get("expires_in", 7200)))

    async def check(self) -> CheckResult:
        try:
            await self.tokens.get()
        except AdapterError as error:
            return CheckResult(PROVIDER, False, f"gettoken failed: {error.describe()}")
        return CheckResult(PROVIDER, True, "gettoken returned an access token")
