"""No secrets, tokens or full phone numbers in logs or reprs."""

from __future__ import annotations

import logging

import pytest

from adapters.errors import RecipientError
from adapters.log import LogAdapter
from adapters.masking import Secret, mask_address, mask_phone, redact_url
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
