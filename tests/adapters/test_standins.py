"""The stand-ins themselves: they verify signatures the way the providers do."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest

from adapters.config import load_config
from adapters.core.signing import percent_encode, sha256_hex
from adapters.providers.aliyun_sms.signing import canonical_query, sign_v3, v2_signature
from adapters.providers.tencent_sms.signing import sign_tc3
from adapters.standin import Standins

EMPTY = sha256_hex(b"")


def _v2_params(standins: Standins, **extra: str) -> dict[str, str]:
    params = {
        "AccessKeyId": standins.aliyun.access_key_id,
        "Action": "SendSms",
        "Format": "JSON",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": secrets.token_hex(16),
        "SignatureVersion": "1.0",
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "Version": "2017-05-25",
        "PhoneNumbers": "13800000000",
        "SignName": standins.aliyun.sign_name,
        "TemplateCode": standins.aliyun.template_code,
        "TemplateParam": '{"content":"测试 (1)!"}',
    }
    params.update(extra)
    return params


async def _post_v2(standins: Standins, params: dict[str, str]) -> tuple[int, Any]:
    common = {k: params[k] for k in params if k[0].isupper() and k not in _BUSINESS}
    business = {k: params[k] for k in params if k in _BUSINESS}
    query = canonical_query(common) + "&Signature=" + percent_encode(params["Signature"])
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{standins.aliyun.base_url}/?{query}",
            data=urlencode(business),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response,
    ):
        return response.status, await response.json()


_BUSINESS = {"PhoneNumbers", "SignName", "TemplateCode", "TemplateParam"}


async def test_aliyun_standin_accepts_v2_signatures_over_query_and_form(
    standins: Standins,
) -> None:
    params = _v2_params(standins)
    params["Signature"] = v2_signature(standins.aliyun.access_key_secret, "POST", params)
    status, body = await _post_v2(standins, params)
    assert (status, body["Code"]) == (200, "OK")


async def test_aliyun_standin_rejects_bad_v2_signature(standins: Standins) -> None:
    params = _v2_params(standins)
    params["Signature"] = v2_signature(standins.aliyun.access_key_secret, "GET", params)
    status, body = await _post_v2(standins, params)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert set(body) == {"Code", "Message", "RequestId"}


async def _post_v3(standins: Standins, nonce: str, body: bytes = b"") -> tuple[int, Any]:
    query = {"PhoneNumber": "13800000000", "SendDate": "20240101"}
    url = standins.aliyun.base_url
    headers = {
        "host": url.removeprefix("http://"),
        "x-acs-action": "QuerySendDetails",
        "x-acs-version": "2017-05-25",
        "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": EMPTY,
    }
    signature = sign_v3(
        access_key_id=standins.aliyun.access_key_id,
        access_key_secret=standins.aliyun.access_key_secret,
        method="POST",
        path="/",
        query=query,
        headers=headers.items(),
        payload_hash=EMPTY,
    )
    headers["Authorization"] = signature.authorization
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/?{canonical_query(query)}", headers=headers, data=body or None
        ) as response,
    ):
        return response.status, await response.json()


async def test_aliyun_standin_rejects_replayed_nonce(standins: Standins) -> None:
    nonce = secrets.token_hex(16)
    assert (await _post_v3(standins, nonce))[1]["Code"] == "OK"
    status, body = await _post_v3(standins, nonce)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")


async def test_aliyun_standin_rejects_body_not_matching_content_sha256(
    standins: Standins,
) -> None:
    status, body = await _post_v3(standins, secrets.token_hex(16), body=b"tampered")
    assert (status, body["Code"]) == (400, "IncompleteSignature")


async def _post_tc3(standins: Standins, secret_key: str, timestamp: int) -> Any:
    body = orjson.dumps({"International": 0, "TemplateIdSet": [1]})
    headers = {
        "Content-Type": "application/json",
        "Host": standins.tencent.base_url.removeprefix("http://"),
        "X-TC-Action": "DescribeSmsTemplateList",
        "X-TC-Version": "2021-01-11",
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Region": "ap-guangzhou",
    }
    signature = sign_tc3(
        secret_id=standins.tencent.secret_id,
        secret_key=secret_key,
        service="sms",
        timestamp=timestamp,
        method="POST",
        query="",
        headers=headers,
        signed_headers=["content-type", "host"],
        payload=body,
    )
    headers["Authorization"] = signature.authorization
    async with (
        aiohttp.ClientSession() as session,
        session.post(standins.tencent.base_url + "/", headers=headers, data=body) as response,
    ):
        return await response.json()


async def test_tencent_standin_accepts_sdk_style_signed_headers(standins: Standins) -> None:
    answer = await _post_tc3(standins, standins.tencent.secret_key, int(time.time()))
    assert "Error" not in answer["Response"]


@pytest.mark.parametrize(
    ("key_ok", "skew", "code"),
    [(False, 0, "AuthFailure.SignatureFailure"), (True, 400, "AuthFailure.SignatureExpire")],
)
async def test_tencent_standin_rejects_bad_signatures(
    standins: Standins, key_ok: bool, skew: int, code: str
) -> None:
    key = standins.tencent.secret_key if key_ok else "wrong"
    answer = await _post_tc3(standins, key, int(time.time()) - skew)
    assert answer["Response"]["Error"]["Code"] == code
    assert "RequestId" in answer["Response"]


async def test_standins_env_configures_every_provider(standins: Standins) -> None:
    config = load_config(standins.env())
    assert config.configured() == ["aliyun-sms", "tencent-sms", "wecom", "wecom-bot", "wechat"]
    assert set(standins.endpoints()) == set(config.configured())
    assert all(url.startswith("http://127.0.0.1:") for url in standins.endpoints().values())
