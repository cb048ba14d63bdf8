"""Tencent Cloud SMS (API 2021-01-11): SendSms with TC3-HMAC-SHA256 signing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from yarl import URL

from ...core.base import ProviderAdapter
from ...core.http import encode_json, host_header
from ...core.ratelimit import RateSpec
from ...core.runtime import Runtime
from ...errors import AdapterError, TransientProviderError
from ...limits import LIMITS, check, check_sms_params, fit_sms_params
from ...masking import Secret
from ...phone import normalize_phone, to_tencent
from ...types import AdapterKind, CheckResult, Message, SendResult
from .errors import PROVIDER, classify
from .signing import sign_tc3

__all__ = ["API_VERSION", "CONTENT_TYPE", "SERVICE", "TencentSmsAdapter", "TencentSmsConfig"]

API_VERSION = "2021-01-11"
SERVICE = "sms"
CONTENT_TYPE = "application/json; charset=utf-8"
_SIGNED = ("content-type", "host", "x-tc-action")


@dataclass(frozen=True)
class TencentSmsConfig:
    """The settings ``HUB_TENCENT_SMS_<FIELD>`` (``adapters.core.settings``)."""

    secret_id: str
    secret_key: Secret
    sdk_app_id: str
    sign_name: str
    template_id: str
    region: str = "ap-guangzhou"
    endpoint: str = "https://sms.tencentcloudapi.com"
    param_max_chars: int = LIMITS["tencent-sms"]["param"].limit


class TencentSmsAdapter(ProviderAdapter):
    """Template SMS through Tencent Cloud. ``params`` fill ``{1}``, ``{2}``... by key order
    (keys ``1``, ``2``...); with no ``params`` the text fills ``{1}``."""

    provider_name: ClassVar[str] = PROVIDER
    adapter_kind: ClassVar[AdapterKind] = "sms"
    default_limits = (RateSpec(100, 1.0), RateSpec(5, 86_400.0))

    def __init__(self, config: TencentSmsConfig, runtime: Runtime | None = None) -> None:
        super().__init__(runtime)
        self.config = config
        self._url = URL(config.endpoint + "/")

    @staticmethod
    def params_for(message: Message) -> list[str]:
        if not message.params:
            return [message.text]
        keys = sorted(message.params, key=lambda k: (0, int(k)) if k.isdigit() else (1, 0))
        return [message.params[k] for k in keys]

    def fit(self, to: str, message: Message) -> Message:
        """Each template variable fitted to ``param_max_chars``, all within 500."""
        full = replace(message, text=message.full_text, tail="")
        values = fit_sms_params(
            self.params_for(full), self.config.sign_name, self.config.param_max_chars
        )
        return replace(full, params={str(i): v for i, v in enumerate(values, start=1)})

    def prepare(self, to: str, message: Message) -> str:
        address = normalize_phone(to, provider=PROVIDER)
        check_sms_params(
            PROVIDER, self.config.sign_name, self.params_for(message), self.config.param_max_chars
        )
        if message.reference is not None:
            limit = LIMITS[PROVIDER]["SessionContext"]
            check(PROVIDER, "reference (SessionContext)", message.reference, limit)
        return address

    async def send_once(self, address: str, message: Message) -> SendResult:
        payload: dict[str, Any] = {
            "PhoneNumberSet": [to_tencent(address)],
            "SmsSdkAppId": self.config.sdk_app_id,
            "SignName": self.config.sign_name,
            "TemplateId": message.template or self.config.template_id,
            "TemplateParamSet": self.params_for(message),
        }
        if message.reference:
            payload["SessionContext"] = message.reference
        response = await self.call("SendSms", payload)
        statuses = response.get("SendStatusSet")
        if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
            raise TransientProviderError(
                "SendSms answer without SendStatusSet", provider=PROVIDER, code="bad_response"
            )
        status = statuses[0]
        if status.get("Code") != "Ok":
            raise classify(str(status.get("Code")), str(status.get("Message", "")))
        return SendResult(PROVIDER, str(status.get("SerialNo", "")), address, response)

    async def check(self) -> CheckResult:
        """A signed, read-only DescribeSmsTemplateList for the configured template."""
        template: Any = (
            int(self.config.template_id)
            if self.config.template_id.isdigit()
            else self.config.template_id
        )
        try:
            await self.call(
                "DescribeSmsTemplateList", {"International": 0, "TemplateIdSet": [template]}
            )
        except AdapterError as error:
            return CheckResult(PROVIDER, False, error.describe())
        return CheckResult(PROVIDER, True, "signed DescribeSmsTemplateList accepted")

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One TC3-signed POST (fresh timestamp); return ``Response`` or raise."""
        body = encode_json(payload)
        timestamp = int(self.runtime.wall())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": host_header(self._url),
            "X-TC-Action": action,
            "X-TC-Version": API_VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.config.region,
        }
        signature = sign_tc3(
            secret_id=self.config.secret_id,
            secret_key=self.config.secret_key.reveal(),
            service=SERVICE,
            timestamp=timestamp,
            method="POST",
            query="",
            headers=headers,
            signed_headers=_SIGNED,
            payload=body,
        )
        headers["Authorization"] = signature.authorization
        response = await self.http.request("POST", self._url, headers=headers, body=body)
        if response.status >= 500:
            raise TransientProviderError(
                f"HTTP {response.status}", provider=PROVIDER, code=f"http_{response.status}"
            )
        envelope = response.json(PROVIDER)
        inner = envelope.get("Response") if isinstance(envelope, dict) else None
        if not isinstance(inner, dict):
            raise TransientProviderError(
                f"HTTP {response.status} without a Response object",
                provider=PROVIDER,
                code=f"http_{response.status}",
            )
        error = inner.get("Error")
        if isinstance(error, dict):
            raise classify(str(error.get("Code")), str(error.get("Message", "")))
        return inner
