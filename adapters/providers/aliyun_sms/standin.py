"""Alibaba Cloud SMS stand-in: verifies V3 (and V2) signatures like Dysmsapi."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from ...core.signing import sha256_hex
from ...core.standin import Recent, StandinServer, json_response, request_id
from ...limits import LIMITS
from .signing import parse_v3_authorization, sign_v3, v2_signature

__all__ = ["AliyunStandin"]

_SKEW = 15 * 60
_CN = timedelta(hours=8)


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


class AliyunStandin(StandinServer):
    """``POST /`` with ``SendSms``, ``SendBatchSms`` and ``QuerySendDetails``.

    ``report_url``: when set, each accepted number gets an SmsReport push.
    ``uplink_url``: where :meth:`reply` pushes SmsUp messages (a member's reply).
    ``auto_reply``: when set, called with each accepted SMS's text; a text it
    returns is sent back as that number's reply (the sandbox's simulated member).
    """

    name = "aliyun-sms"

    def __init__(self, *, wall: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.wall = wall
        self.access_key_id = "LTAIstandin" + secrets.token_hex(4)
        self.access_key_secret = secrets.token_urlsafe(18)
        self.sign_name = "通知测试"
        self.template_code = "SMS_100000001"
        # per-variable limit of the account (the provider's default unless raised)
        self.param_max_chars = LIMITS["aliyun-sms"]["param"].limit
        self.report_url: str | None = None
        self.uplink_url: str | None = None
        self.auto_reply: Callable[[str], str | None] | None = None
        self.sent = Recent()
        self._sequence = 0
        self._nonces: dict[str, float] = {}
        self._biz = 900_000_000
        self.app.router.add_post("/", self._handle)

    def env(self) -> dict[str, str]:
        """The ``HUB_*`` settings that point this provider's adapter here."""
        return {
            "HUB_ALIYUN_SMS_ACCESS_KEY_ID": self.access_key_id,
            "HUB_ALIYUN_SMS_ACCESS_KEY_SECRET": self.access_key_secret,
            "HUB_ALIYUN_SMS_SIGN_NAME": self.sign_name,
            "HUB_ALIYUN_SMS_TEMPLATE_CODE": self.template_code,
            "HUB_ALIYUN_SMS_ENDPOINT": self.base_url,
            "HUB_ALIYUN_SMS_PARAM_MAX_CHARS": str(self.param_max_chars),
        }

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        params = dict(request.rel_url.query)
        try:
            if "Authorization" in request.headers:
                action = self._verify_v3(request, params, body)
            else:
                action = self._verify_v2(request, params, body)
            return await self._dispatch(action, params)
        except _Refusal as refusal:
            return json_response(
                {"Code": refusal.code, "Message": refusal.message, "RequestId": request_id()},
                status=refusal.status,
            )

    def _verify_v3(self, request: web.Request, params: dict[str, str], body: bytes) -> str:
        auth = parse_v3_authorization(request.headers["Authorization"])
        if auth is None:
            raise _Refusal(400, "IncompleteSignature", "The request signature is malformed.")
        if auth["Credential"] != self.access_key_id:
            raise _Refusal(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        signed = auth["SignedHeaders"].split(";")
        acs = {name.lower() for name in request.headers if name.lower().startswith("x-acs-")}
        if "host" not in signed or not acs <= set(signed):
            raise _Refusal(400, "IncompleteSignature", "host and x-acs-* headers must be signed.")
        if request.headers.get("x-acs-content-sha256") != sha256_hex(body):
            raise _Refusal(400, "IncompleteSignature", "x-acs-content-sha256 does not match body.")
        self._check_time_and_nonce(
            request.headers.get("x-acs-date", ""), request.headers.get("x-acs-signature-nonce", "")
        )
        headers = [(n, v) for n in signed for v in request.headers.getall(n, [])]
        expected = sign_v3(
            access_key_id=self.access_key_id,
            access_key_secret=self.access_key_secret,
            method=request.method,
            path=request.path,
            query=params,
            headers=headers,
            payload_hash=sha256_hex(body),
        )
        if not hmac.compare_digest(expected.signature, auth["Signature"]):
            raise _Refusal(
                400, "SignatureDoesNotMatch", "Specified signature does not match our calculation."
            )
        return request.headers.get("x-acs-action", "")

    def _verify_v2(self, request: web.Request, params: dict[str, str], body: bytes) -> str:
        if body and request.content_type == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        if "Signature" not in params:
            raise _Refusal(400, "MissingSignature", "Signature is mandatory for this action.")
        if params.get("AccessKeyId") != self.access_key_id:
            raise _Refusal(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        self._check_time_and_nonce(params.get("Timestamp", ""), params.get("SignatureNonce", ""))
        expected = v2_signature(self.access_key_secret, request.method, params)
        if not hmac.compare_digest(expected, params["Signature"]):
            raise _Refusal(
                400, "SignatureDoesNotMatch", "Specified signature does not match our calculation."
            )
        return params.get("Action", "")

    def _check_time_and_nonce(self, stamp: str, nonce: str) -> None:
        try:
            when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise _Refusal(400, "InvalidTimeStamp.Format", "Timestamp format is invalid.") from None
        now = self.wall()
        if abs(now - when.timestamp()) > _SKEW:
            raise _Refusal(400, "InvalidTimeStamp.Expired", "Specified time stamp is expired.")
        self._nonces = {n: t for n, t in self._nonces.items() if now - t <= _SKEW}
        if not nonce or nonce in self._nonces:
            raise _Refusal(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self._nonces[nonce] = now

    async def _dispatch(self, action: str, params: dict[str, str]) -> web.Response:
        if action == "QuerySendDetails":
            return json_response(
                {
                    "Code": "OK",
                    "Message": "OK",
                    "RequestId": request_id(),
                    "TotalCount": "0",
                    "SmsSendDetailDTOs": {"SmsSendDetailDTO": []},
                }
            )
        if action == "SendSms":
            numbers = params.get("PhoneNumbers", "").split(",")
            return await self._send(numbers, [params.get("SignName", "")], params)
        if action == "SendBatchSms":
            numbers = _json_list(params.get("PhoneNumberJson"))
            signs = _json_list(params.get("SignNameJson"))
            return await self._send(numbers, signs, params)
        raise _Refusal(404, "InvalidAction.NotFound", f"Specified api {action!r} is not found.")

    async def _send(
        self, numbers: list[str], signs: list[str], params: dict[str, str]
    ) -> web.Response:
        fault = self.faults.take()
        refusal = _fault_refusal(fault)
        if fault == "timeout":
            await self.faults.hang()
        if refusal is not None:
            headers = {"x-acs-retry-after": "1"} if fault == "rate_limited" else {}
            body = {"Code": refusal.code, "Message": refusal.message, "RequestId": request_id()}
            return json_response(body, status=refusal.status, **headers)
        if fault == "echo_input":
            echoed = ", ".join(f"{n} (+86{n.removeprefix('+86')})" for n in numbers)
            message = (
                f"参数错误: PhoneNumbers={echoed}; AccessKeyId={self.access_key_id}, "
                f"AccessKeySecret {self.access_key_secret}, OutId={params.get('OutId', '')}"
            )
            body = {"Code": "isv.INVALID_PARAMETERS", "Message": message}
            return json_response({**body, "RequestId": request_id()})
        code = self._business_check(numbers, signs, params, fault == "invalid_number")
        if code is not None:
            return json_response({"Code": code, "Message": code, "RequestId": request_id()})
        self._biz += 1
        biz_id = f"{self._biz}^0"
        for number in numbers:
            self.sent.append({**params, "PhoneNumber": number, "BizId": biz_id})
            if self.report_url:
                self.spawn(self._report(number, biz_id, params.get("OutId", "")))
            answer = self.auto_reply(_text_of(params)) if self.auto_reply else None
            if answer and self.uplink_url:
                self.spawn(self._reply(number, answer))
        return json_response(
            {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id()}
        )

    def _business_check(
        self, numbers: list[str], signs: list[str], params: dict[str, str], invalid: bool
    ) -> str | None:
        if invalid or not numbers or not all(_valid_number(n) for n in numbers):
            return "isv.MOBILE_NUMBER_ILLEGAL"
        if any(sign != self.sign_name for sign in signs):
            return "isv.SMS_SIGNATURE_ILLEGAL"
        if params.get("TemplateCode") != self.template_code:
            return "isv.SMS_TEMPLATE_ILLEGAL"
        raw = params.get("TemplateParam") or params.get("TemplateParamJson") or "{}"
        try:
            values: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return "isv.INVALID_JSON_PARAM"
        mappings = values if isinstance(values, list) else [values]
        for mapping in mappings:
            if not isinstance(mapping, dict) or not all(
                isinstance(v, str) for v in mapping.values()
            ):
                return "isv.INVALID_JSON_PARAM"
            if any(len(v) > self.param_max_chars for v in mapping.values()):
                return "isv.PARAM_LENGTH_LIMIT"
            total = len(self.sign_name) + 2 + sum(len(v) for v in mapping.values())
            if total > LIMITS["aliyun-sms"]["total"].limit:
                return "isv.PARAM_LENGTH_LIMIT"
        if len(params.get("OutId", "")) > LIMITS["aliyun-sms"]["OutId"].limit:
            return "isv.INVALID_PARAMETERS"
        return None

    async def _report(self, number: str, biz_id: str, out_id: str) -> None:
        now = (datetime.fromtimestamp(self.wall(), UTC) + _CN).strftime("%Y-%m-%d %H:%M:%S")
        report = [
            {
                "phone_number": number,
                "send_time": now,
                "report_time": now,
                "success": True,
                "err_code": "DELIVERED",
                "err_msg": "用户接收成功",
                "sms_size": "1",
                "biz_id": biz_id,
                "out_id": out_id,
            }
        ]
        assert self.report_url is not None
        await self.push(self.report_url, orjson.dumps(report), "application/json")

    async def reply(self, number: str, text: str) -> int:
        """Push an SmsUp message from ``number`` (as Alibaba does when a member answers
        an SMS) to ``uplink_url``; return the hub's HTTP status."""
        return await self._reply(number, text)

    async def _reply(self, number: str, text: str) -> int:
        assert self.uplink_url is not None, "uplink_url is not set"
        self._sequence += 1
        now = (datetime.fromtimestamp(self.wall(), UTC) + _CN).strftime("%Y-%m-%d %H:%M:%S")
        uplink = [
            {
                "phone_number": number.removeprefix("+86"),
                "content": text,
                "send_time": now,
                "sign_name": self.sign_name,
                "dest_code": "",
                "sequence_id": self._sequence,
            }
        ]
        return await self.push(self.uplink_url, orjson.dumps(uplink), "application/json")


def _text_of(params: dict[str, str]) -> str:
    try:
        values: Any = orjson.loads(params.get("TemplateParam") or "{}")
    except orjson.JSONDecodeError:
        return ""
    return " ".join(str(v) for v in values.values()) if isinstance(values, dict) else ""


def _fault_refusal(fault: str | None) -> _Refusal | None:
    if fault == "expired_token":
        return _Refusal(400, "InvalidTimeStamp.Expired", "Specified time stamp is expired.")
    if fault == "rate_limited":
        return _Refusal(400, "Throttling.User", "Request was denied due to user flow control.")
    if fault in ("server_error", "timeout"):
        return _Refusal(
            503, "ServiceUnavailable", "The request has failed due to a temporary failure."
        )
    return None


def _valid_number(number: str) -> bool:
    digits = number.removeprefix("+").removeprefix("0086")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) == 11:
        return digits.startswith("1") and digits[1] in "3456789" and digits.isdigit()
    return digits.isdigit() and 8 <= len(digits) <= 15 and not digits.startswith("86")


def _json_list(raw: str | None) -> list[str]:
    try:
        value: Any = orjson.loads(raw or "[]")
    except orjson.JSONDecodeError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []
