"""Tencent Cloud SMS stand-in: verifies TC3-HMAC-SHA256 like the API 3.0 gateway."""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from ...core.standin import Recent, StandinServer, json_response, request_id
from ...limits import LIMITS, measure
from .signing import parse_tc3_authorization, sign_tc3, utc_date

__all__ = ["TencentStandin"]

_SKEW = 300
_NUMBER = re.compile(r"\+861[3-9]\d{9}|\+(?!86)[1-9]\d{6,14}")


class _ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code, self.message = code, message


class TencentStandin(StandinServer):
    """``POST /`` with ``SendSms`` and ``DescribeSmsTemplateList`` (version 2021-01-11).

    ``report_url``: when set, each accepted number gets a status callback push.
    ``reply_url``: where :meth:`reply` pushes reply callbacks (a member's answer).
    ``auto_reply``: when set, called with each accepted SMS's text (the template
    parameters); a text it returns is sent back as that number's reply.
    """

    name = "tencent-sms"

    def __init__(self, *, wall: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.wall = wall
        self.secret_id = "AKIDstandin" + secrets.token_hex(8)
        self.secret_key = secrets.token_urlsafe(24)
        self.sdk_app_id = "1400000001"
        self.sign_name = "通知测试"
        self.template_id = "100001"
        # per-variable limit of the account (the provider's default unless raised)
        self.param_max_chars = LIMITS["tencent-sms"]["param"].limit
        self.report_url: str | None = None
        self.reply_url: str | None = None
        self.auto_reply: Callable[[str], str | None] | None = None
        self.sent = Recent()
        self._serial = 1_000_000
        self.app.router.add_post("/", self._handle)

    def env(self) -> dict[str, str]:
        """The ``HUB_*`` settings that point this provider's adapter here."""
        return {
            "HUB_TENCENT_SMS_SECRET_ID": self.secret_id,
            "HUB_TENCENT_SMS_SECRET_KEY": self.secret_key,
            "HUB_TENCENT_SMS_SDK_APP_ID": self.sdk_app_id,
            "HUB_TENCENT_SMS_SIGN_NAME": self.sign_name,
            "HUB_TENCENT_SMS_TEMPLATE_ID": self.template_id,
            "HUB_TENCENT_SMS_REGION": "ap-guangzhou",
            "HUB_TENCENT_SMS_ENDPOINT": self.base_url,
            "HUB_TENCENT_SMS_PARAM_MAX_CHARS": str(self.param_max_chars),
        }

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        try:
            self._verify(request, body)
            action = request.headers.get("X-TC-Action", "")
            if request.headers.get("X-TC-Version") != "2021-01-11":
                raise _ApiError("InvalidParameterValue", "X-TC-Version must be 2021-01-11.")
            if not request.headers.get("X-TC-Region"):
                raise _ApiError("MissingParameter", "The request is missing X-TC-Region.")
            payload = orjson.loads(body)
            if action == "SendSms":
                return await self._send(payload)
            if action == "DescribeSmsTemplateList":
                ids = payload.get("TemplateIdSet", [])
                status = [{"TemplateId": i, "StatusCode": 0} for i in ids]
                return _ok({"DescribeTemplateStatusSet": status})
            raise _ApiError("InvalidAction", f"The action {action!r} does not exist.")
        except orjson.JSONDecodeError:
            return _error("FailedOperation.JsonParseFail", "The body is not valid JSON.")
        except _ApiError as error:
            return _error(error.code, error.message)

    def _verify(self, request: web.Request, body: bytes) -> None:
        auth = parse_tc3_authorization(request.headers.get("Authorization", ""))
        if auth is None:
            raise _ApiError("AuthFailure.InvalidAuthorization", "Authorization is invalid.")
        secret_id, _, scope = auth["Credential"].partition("/")
        if secret_id != self.secret_id:
            raise _ApiError("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        try:
            timestamp = int(request.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            raise _ApiError("AuthFailure.InvalidAuthorization", "Bad X-TC-Timestamp.") from None
        if abs(self.wall() - timestamp) > _SKEW:
            raise _ApiError("AuthFailure.SignatureExpire", "Signature expired.")
        date, _, rest = scope.partition("/")
        service = rest.partition("/")[0]
        if date != utc_date(timestamp):
            raise _ApiError("AuthFailure.SignatureFailure", "Credential date is not the UTC date.")
        signed = auth["SignedHeaders"].split(";")
        if not {"content-type", "host"} <= set(signed) or not all(
            name in request.headers for name in signed
        ):
            raise _ApiError("AuthFailure.SignatureFailure", "content-type and host must be signed.")
        expected = sign_tc3(
            secret_id=secret_id,
            secret_key=self.secret_key,
            service=service,
            timestamp=timestamp,
            method=request.method,
            query=request.rel_url.raw_query_string,
            headers={name: request.headers[name] for name in signed},
            signed_headers=signed,
            payload=body,
        )
        if not hmac.compare_digest(expected.signature, auth["Signature"]):
            raise _ApiError(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. Please check your signature.",
            )

    async def _send(self, payload: dict[str, Any]) -> web.Response:
        fault = self.faults.take()
        if fault == "timeout":
            await self.faults.hang()
        if fault in ("server_error", "timeout"):
            return web.Response(status=502, text="Bad Gateway")
        if fault == "expired_token":
            raise _ApiError("AuthFailure.SignatureExpire", "Signature expired.")
        if fault == "rate_limited":
            raise _ApiError("RequestLimitExceeded", "Request limit exceeded.")
        if payload.get("SmsSdkAppId") != self.sdk_app_id:
            raise _ApiError("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId not exist.")
        numbers = payload.get("PhoneNumberSet") or []
        if not numbers:
            raise _ApiError("MissingParameter.EmptyPhoneNumberSet", "PhoneNumberSet is empty.")
        if fault == "echo_input":
            number = str(numbers[0])
            message = (
                f"手机号{number}（{number.removeprefix('+86')}）格式错误, "
                f"SecretId={self.secret_id} SecretKey {self.secret_key}"
            )
            raise _ApiError("InvalidParameterValue.IncorrectPhoneNumber", message)
        values = payload.get("TemplateParamSet") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _ApiError(
                "InvalidParameterValue.TemplateParameterFormatError",
                "TemplateParamSet must be a list of strings.",
            )
        if any(len(v) > self.param_max_chars for v in values):
            raise _ApiError(
                "InvalidParameterValue.TemplateParameterLengthLimit",
                f"a template parameter is longer than {self.param_max_chars} characters.",
            )
        total = len(str(payload.get("SignName", ""))) + 2 + sum(len(v) for v in values)
        if total > LIMITS["tencent-sms"]["total"].limit:
            raise _ApiError(
                "InvalidParameterValue.ContentLengthLimit", "the message content is too long."
            )
        context = LIMITS["tencent-sms"]["SessionContext"]
        if measure(str(payload.get("SessionContext", "")), context.unit) > context.limit:
            raise _ApiError("InvalidParameterValue", "SessionContext is too long.")
        statuses = [self._one(str(n), payload, fault == "invalid_number") for n in numbers]
        return _ok({"SendStatusSet": statuses})

    def _one(self, number: str, payload: dict[str, Any], invalid: bool) -> dict[str, Any]:
        status: dict[str, Any] = {
            "SerialNo": "",
            "PhoneNumber": number,
            "Fee": 0,
            "SessionContext": payload.get("SessionContext", ""),
            "IsoCode": "CN" if number.startswith("+86") else "DEF",
        }
        if invalid or not _NUMBER.fullmatch(number):
            code = "InvalidParameterValue.IncorrectPhoneNumber"
            return {**status, "Code": code, "Message": "incorrect phone number"}
        if payload.get("SignName") != self.sign_name:
            code = "FailedOperation.SignatureIncorrectOrUnapproved"
            return {**status, "Code": code, "Message": "signature incorrect or unapproved"}
        if str(payload.get("TemplateId")) != self.template_id:
            code = "FailedOperation.TemplateIncorrectOrUnapproved"
            return {**status, "Code": code, "Message": "template incorrect or unapproved"}
        self._serial += 1
        serial = f"2433:{self._serial}"
        self.sent.append({**payload, "PhoneNumber": number, "SerialNo": serial})
        if self.report_url:
            self.spawn(self._report(number, serial))
        text = " ".join(str(p) for p in payload.get("TemplateParamSet") or [])
        answer = self.auto_reply(text) if self.auto_reply else None
        if answer and self.reply_url:
            self.spawn(self._reply(number, answer))
        return {**status, "SerialNo": serial, "Fee": 1, "Code": "Ok", "Message": "send success"}

    async def _report(self, number: str, serial: str) -> None:
        cn = datetime.fromtimestamp(self.wall(), UTC) + timedelta(hours=8)
        report = [
            {
                "user_receive_time": cn.strftime("%Y-%m-%d %H:%M:%S"),
                "nationcode": "86",
                "mobile": number.removeprefix("+86"),
                "report_status": "SUCCESS",
                "errmsg": "DELIVRD",
                "description": "用户短信送达成功",
                "sid": serial,
            }
        ]
        assert self.report_url is not None
        await self.push(self.report_url, orjson.dumps(report), "application/json")

    async def reply(self, number: str, text: str) -> int:
        """Push a reply callback from ``number`` (as Tencent does when a member answers
        an SMS) to ``reply_url``; return the hub's HTTP status."""
        return await self._reply(number, text)

    async def _reply(self, number: str, text: str) -> int:
        assert self.reply_url is not None, "reply_url is not set"
        body = {
            "extend": "",
            "mobile": number.removeprefix("+86"),
            "nationcode": "86",
            "sign": self.sign_name,
            "text": text,
            "time": int(self.wall()),
        }
        return await self.push(self.reply_url, orjson.dumps(body), "application/json")


def _ok(fields: dict[str, Any]) -> web.Response:
    return json_response({"Response": {**fields, "RequestId": request_id()}})


def _error(code: str, message: str) -> web.Response:
    body = {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id()}}
    return json_response(body)
