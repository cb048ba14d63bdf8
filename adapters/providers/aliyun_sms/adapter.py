"""Alibaba Cloud SMS (Dysmsapi 2017-05-25): SendSms and SendBatchSms, V3 signing."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from yarl import URL

from ...core.base import ProviderAdapter
from ...core.http import encode_json, host_header
from ...core.ratelimit import RateSpec
from ...core.runtime import Runtime
from ...core.signing import sha256_hex
from ...errors import AdapterError, ValidationError
from ...limits import LIMITS, check, check_sms_params, fit_sms_params
from ...masking import Secret
from ...phone import normalize_phone, to_aliyun
from ...types import AdapterKind, CheckResult, Message, SendResult
from .errors import PROVIDER, classify
from .signing import canonical_query, sign_v3

__all__ = ["API_VERSION", "AliyunSmsAdapter", "AliyunSmsConfig"]

API_VERSION = "2017-05-25"
_EMPTY_SHA256 = sha256_hex(b"")


@dataclass(frozen=True)
class AliyunSmsConfig:
    """The settings ``HUB_ALIYUN_SMS_<FIELD>`` (``adapters.core.settings``)."""

    access_key_id: str
    access_key_secret: Secret
    sign_name: str
    template_code: str
    endpoint: str = "https://dysmsapi.aliyuncs.com"
    param_max_chars: int = LIMITS["aliyun-sms"]["param"].limit


class AliyunSmsAdapter(ProviderAdapter):
    """Template SMS through Alibaba Cloud. With no ``params`` the text fills ``${content}``."""

    provider_name: ClassVar[str] = PROVIDER
    adapter_kind: ClassVar[AdapterKind] = "sms"
    default_limits = (RateSpec(100, 1.0), RateSpec(10, 86_400.0))

    def __init__(self, config: AliyunSmsConfig, runtime: Runtime | None = None) -> None:
        super().__init__(runtime)
        self.config = config
        self._url = URL(config.endpoint + "/")

    def params_for(self, message: Message) -> dict[str, str]:
        return dict(message.params) if message.params else {"content": message.text}

    def fit(self, to: str, message: Message) -> Message:
        """Each template variable fitted to ``param_max_chars``, all within 500."""
        full = replace(message, text=message.full_text, tail="")
        params = self.params_for(full)
        values = fit_sms_params(
            list(params.values()), self.config.sign_name, self.config.param_max_chars
        )
        return replace(full, params=dict(zip(params, values, strict=True)))

    def prepare(self, to: str, message: Message) -> str:
        address = normalize_phone(to, provider=PROVIDER)
        params = self.params_for(message)
        check_sms_params(
            PROVIDER, self.config.sign_name, list(params.values()), self.config.param_max_chars
        )
        if message.reference is not None:
            check(PROVIDER, "reference (OutId)", message.reference, LIMITS[PROVIDER]["OutId"])
        return address

    async def send_once(self, address: str, message: Message) -> SendResult:
        query = {
            "PhoneNumbers": to_aliyun(address),
            "SignName": self.config.sign_name,
            "TemplateCode": message.template or self.config.template_code,
            "TemplateParam": encode_json(self.params_for(message)).decode("utf-8"),
        }
        if message.reference:
            query["OutId"] = message.reference
        body = await self.call("SendSms", query)
        return SendResult(PROVIDER, str(body.get("BizId", "")), address, body)

    async def send_batch(
        self,
        recipients: Sequence[str],
        params: Sequence[Mapping[str, str]],
        *,
        template: str | None = None,
        reference: str | None = None,
    ) -> SendResult:
        """SendBatchSms: element *i* of ``params`` fills the template for number *i*
        (each variable fitted to the limits, as in ``send``)."""
        if not recipients or len(recipients) > 100 or len(params) != len(recipients):
            raise ValidationError(
                "SendBatchSms takes 1-100 numbers and one parameter mapping per number",
                provider=PROVIDER,
                code="batch_shape",
            )
        numbers = [normalize_phone(to, provider=PROVIDER) for to in recipients]
        params = [
            dict(
                zip(
                    values,
                    fit_sms_params(
                        list(values.values()), self.config.sign_name, self.config.param_max_chars
                    ),
                    strict=True,
                )
            )
            for values in params
        ]
        for values in params:
            check_sms_params(
                PROVIDER, self.config.sign_name, list(values.values()), self.config.param_max_chars
            )
        query = {
            "PhoneNumberJson": encode_json([to_aliyun(n) for n in numbers]).decode(),
            "SignNameJson": encode_json([self.config.sign_name] * len(numbers)).decode(),
            "TemplateCode": template or self.config.template_code,
            "TemplateParamJson": encode_json([dict(p) for p in params]).decode(),
        }
        if reference:
            query["OutId"] = reference
        self.breaker.before_call()
        body = await self.call("SendBatchSms", query)
        self.breaker.record_success()
        return SendResult(PROVIDER, str(body.get("BizId", "")), ",".join(numbers), body)

    async def check(self) -> CheckResult:
        """A signed, read-only QuerySendDetails call proves key, secret and clock."""
        today = time.strftime("%Y%m%d", time.gmtime(self.runtime.wall() + 8 * 3600))
        query = {
            "PhoneNumber": "13800000000",
            "SendDate": today,
            "PageSize": "1",
            "CurrentPage": "1",
        }
        try:
            await self.call("QuerySendDetails", query)
        except AdapterError as error:
            return CheckResult(PROVIDER, False, error.describe())
        return CheckResult(PROVIDER, True, "signed QuerySendDetails accepted")

    async def call(self, action: str, query: Mapping[str, str]) -> dict[str, Any]:
        """One V3-signed RPC call (fresh nonce and date); return the JSON body or raise."""
        headers = {
            "host": host_header(self._url),
            "x-acs-action": action,
            "x-acs-version": API_VERSION,
            "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.runtime.wall())),
            "x-acs-signature-nonce": secrets.token_hex(16),
            "x-acs-content-sha256": _EMPTY_SHA256,
        }
        signature = sign_v3(
            access_key_id=self.config.access_key_id,
            access_key_secret=self.config.access_key_secret.reveal(),
            method="POST",
            path="/",
            query=query,
            headers=headers.items(),
            payload_hash=_EMPTY_SHA256,
        )
        headers["Authorization"] = signature.authorization
        url = URL(f"{self._url}?{canonical_query(query)}", encoded=True)
        response = await self.http.request("POST", url, headers=headers)
        body = response.json(PROVIDER)
        if not isinstance(body, dict):
            body = {}
        if response.status == 200 and body.get("Code") == "OK":
            return body
        raise classify(response.status, body, response.headers)
