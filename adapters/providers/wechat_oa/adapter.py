"""WeChat Official Account (公众号): template and subscription messages, stable token."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

from yarl import URL

from ...core.base import ProviderAdapter
from ...core.http import encode_json
from ...core.ratelimit import RateSpec
from ...core.runtime import Runtime
from ...core.tokens import AccessToken, TokenCache
from ...core.wechat_errors import errcode_body
from ...errors import AdapterError, ValidationError
from ...limits import LIMITS, check, check_oa_values, fit, oa_limit
from ...masking import Secret
from ...types import AdapterKind, CheckResult, Message, SendResult

__all__ = ["DEFAULT_DATA_KEY", "PROVIDER", "OfficialAccountAdapter", "WechatConfig"]

PROVIDER = "wechat"
DEFAULT_DATA_KEY = "thing1"
_OPENID = re.compile(r"[A-Za-z0-9_-]{6,64}")
_TOKEN_CODES = frozenset({"40001", "40014", "42001", "41001"})


@dataclass(frozen=True)
class WechatConfig:
    """The settings ``HUB_WECHAT_<FIELD>`` (``adapters.core.settings``)."""

    app_id: str
    app_secret: Secret
    template_id: str
    endpoint: str = "https://api.weixin.qq.com"
    callback_token: Secret | None = field(default=None)


class OfficialAccountAdapter(ProviderAdapter):
    """``to`` is the follower's OpenID. ``params`` fill the template's ``data``; with no
    ``params`` the text fills ``thing1``. ``format="subscription"`` sends a
    subscription message (``bizsend``), anything else a template message."""

    provider_name: ClassVar[str] = PROVIDER
    adapter_kind: ClassVar[AdapterKind] = "wechat"
    default_limits = (RateSpec(1000, 60.0), RateSpec(30, 60.0))

    def __init__(
        self,
        config: WechatConfig,
        runtime: Runtime | None = None,
        *,
        token_mode: Literal["stable", "classic"] = "stable",
    ) -> None:
        super().__init__(runtime)
        self.config = config
        self.token_mode = token_mode
        self.tokens = TokenCache(self._fetch_token, self.runtime.clock)

    @staticmethod
    def data_for(message: Message) -> dict[str, str]:
        return dict(message.params) if message.params else {DEFAULT_DATA_KEY: message.text}

    def fit(self, to: str, message: Message) -> Message:
        """Each template value fitted to its key's limit (``thing`` 20 characters...)."""
        data = dict(message.params) if message.params else {DEFAULT_DATA_KEY: message.full_text}
        fitted = {}
        for key, value in data.items():
            limit = oa_limit(key)
            fitted[key] = fit(value, limit.limit, limit.unit)
        return replace(message, text=message.full_text, tail="", params=fitted)

    def prepare(self, to: str, message: Message) -> str:
        address = to.strip()
        if not _OPENID.fullmatch(address):
            raise ValidationError(
                f"not an OpenID: {to!r}", provider=PROVIDER, code="invalid_openid"
            )
        check_oa_values(PROVIDER, self.data_for(message))
        if message.reference is not None:
            check(
                PROVIDER,
                "reference (client_msg_id)",
                message.reference,
                LIMITS[PROVIDER]["client_msg_id"],
            )
        return address

    def payload(self, address: str, message: Message) -> dict[str, Any]:
        body: dict[str, Any] = {
            "touser": address,
            "template_id": message.template or self.config.template_id,
            "data": {key: {"value": value} for key, value in self.data_for(message).items()},
        }
        if message.format == "subscription":
            if message.url:
                body["page"] = message.url
            return body
        if message.url:
            body["url"] = message.url
        if message.reference:
            body["client_msg_id"] = message.reference
        return body

    async def send_once(self, address: str, message: Message) -> SendResult:
        path = (
            "/cgi-bin/message/subscribe/bizsend"
            if message.format == "subscription"
            else "/cgi-bin/message/template/send"
        )
        answer = await self._with_token(path, encode_json(self.payload(address, message)))
        return SendResult(PROVIDER, str(answer.get("msgid", "")), address, answer)

    async def _with_token(self, path: str, body: bytes) -> dict[str, Any]:
        token = await self.tokens.get()
        try:
            return await self._post(path, token, body)
        except AdapterError as error:
            if error.code not in _TOKEN_CODES:
                raise
            self.tokens.invalidate(token)
            return await self._post(path, await self.tokens.get(), body)

    async def _post(self, path: str, token: str, body: bytes) -> dict[str, Any]:
        url = URL(self.config.endpoint + path).with_query(access_token=token)
        response = await self.http.request(
            "POST", url, headers={"Content-Type": "application/json"}, body=body
        )
        return dict(errcode_body(PROVIDER, response, official=True))

    async def _fetch_token(self) -> AccessToken:
        if self.token_mode == "stable":
            body = encode_json(
                {
                    "grant_type": "client_credential",
                    "appid": self.config.app_id,
                    "secret": self.config.app_secret.reveal(),
                    "force_refresh": False,
                }
            )
            response = await self.http.request(
                "POST",
                URL(self.config.endpoint + "/cgi-bin/stable_token"),
                headers={"Content-Type": "application/json"},
                body=body,
            )
        else:
            url = URL(self.config.endpoint + "/cgi-bin/token").with_query(
                grant_type="client_credential",
                appid=self.config.app_id,
                secret=self.config.app_secret.reveal(),
            )
            response = await self.http.request("GET", url)
        # on the token endpoints 40001 means a wrong AppSecret, not a stale token
        answer = errcode_body(PROVIDER, response, official=False)
        return AccessToken(str(answer["access_token"]), float(answer.get("expires_in", 7200)))

    async def check(self) -> CheckResult:
        try:
            await self.tokens.get()
        except AdapterError as error:
            return CheckResult(
                PROVIDER, False, f"{self.token_mode} token fetch failed: {error.describe()}"
            )
        return CheckResult(
            PROVIDER, True, f"{self.token_mode} token fetch returned an access token"
        )
