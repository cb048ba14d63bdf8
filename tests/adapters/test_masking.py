"""No secrets, tokens or full phone numbers in logs or reprs."""

from __future__ import annotations

import logging

import pytest

from adapters.errors import AdapterError, RecipientError
from adapters.log import LogAdapter
from adapters.masking import Secret, mask_address, mask_phone, mask_text, redact_url
from adapters.standin import Standins
from adapters.types import Adapter, Message


def test_mask_helpers() -> None:
    assert mask_phone("+8613800000000") == "+86138****0000"
    assert mask_phone("13800000000") == "138****0000"
    assert mask_address("oia2TjuEGTNoeX76QEjQNrcURxG8") == "oia2****RxG8"
    assert "s3cr3t" not in redact_url("https://x/cgi-bin/gettoken?corpid=a&corpsecret=s3cr3t")
    assert "T0K3N" not in redact_url("https://x/send?access_token=T0K3N&x=1")
    secret = Secret("hidden")
    assert "hidden" not in repr(secret) and "hidden" not in str(secret)
    assert secret.reveal() == "hidden"


async def test_logs_mask_numbers_and_hide_secrets(
    adapters: dict[str, Adapter], standins: Standins, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await adapters["aliyun-sms"].send("13912345678", Message("x"))
    standins.aliyun.faults.inject("server_error")  # logged retry path
    await adapters["aliyun-sms"].send("13912345678", Message("x"))
    await adapters["tencent-sms"].send("13912345678", Message("1"))
    await adapters["wecom"].send("zhangsan01", Message("x"))
    standins.tencent.faults.inject("invalid_number")
    with pytest.raises(RecipientError) as caught:
        await adapters["tencent-sms"].send("13912345678", Message("1"))
    await adapters["log"].send("13912345678", Message("x"))
    text = caplog.text + str(caught.value)
    assert "+86139****5678" in caplog.text
    assert "13912345678" not in text
    for secret in (
        standins.aliyun.access_key_secret,
        standins.tencent.secret_key,
        standins.wecom.corp_secret,
        standins.wecom.bot_key,
    ):
        assert secret not in text
    assert all(token not in text for token in standins.wecom._tokens)


async def test_log_adapter_returns_synthetic_ids(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    adapter = LogAdapter()
    result = await adapter.send("+8613800000000", Message("你好", reference="a-1"))
    assert result.message_id.startswith("log-") and result.provider == "log"
    assert "+86138****0000" in caplog.text and "13800000000" not in caplog.text
    assert (await adapter.check()).ok


@pytest.mark.parametrize("provider", ["aliyun-sms", "tencent-sms"])
async def test_provider_error_text_that_echoes_input_is_masked_in_the_log(
    adapters: dict[str, Adapter],
    standins: Standins,
    caplog: pytest.LogCaptureFixture,
    provider: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    standin = standins.aliyun if provider == "aliyun-sms" else standins.tencent
    standin.faults.inject("echo_input")
    with pytest.raises(AdapterError) as caught:
        await adapters[provider].send("13912345678", Message("x", reference="t0123"))
    echoed = caught.value.message  # the provider really echoed them (the error keeps it)
    secret = (
        standins.aliyun.access_key_secret
        if provider == "aliyun-sms"
        else standins.tencent.secret_key
    )
    assert "13912345678" in echoed and secret in echoed
    assert caplog.text and "failed" in caplog.text
    assert "13912345678" not in caplog.text and secret not in caplog.text
    assert "139****5678" in caplog.text and caught.value.code in caplog.text


def test_mask_text_covers_numbers_ids_and_secrets() -> None:
    Secret("a-configured-secret-value")  # every Secret is masked wherever it shows up
    text = mask_text(
        "to +8613912345678, 13912345678, 8613912345678 and 号码13912345678无效; "
        "openid=oia2TjuEGTNoeX76QEjQNrcURxG8, touser zhangsan01, "
        '"access_token": "T0K3Nvalue", corpsecret=S3CR3T&x=1, '
        "Authorization: TC3-HMAC-SHA256 Credential=AKIDx/2024-01-01/sms/tc3_request, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168, "
        "echo a-configured-secret-value and Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA; "
        "RequestId 3F2504E0-4F89-11D3-9A0C-0305E82C3301, SerialNo 2433:1000001"
    )
    for leaked in (
        "13912345678",
        "oia2TjuEGTNoeX76QEjQNrcURxG8",
        "zhangsan01",
        "T0K3Nvalue",
        "S3CR3T",
        "AKIDx",
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
        "a-configured-secret-value",
        "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA",
    ):
        assert leaked not in text, leaked
    assert text.count("139****5678") == 4 and "oia2****RxG8" in text
    assert "3F2504E0-4F89-11D3-9A0C-0305E82C3301" in text and "2433:1000001" in text
