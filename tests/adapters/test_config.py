"""Configuration from environment and config-file mappings."""

from __future__ import annotations

import pytest

from adapters.config import DEFAULT_ENDPOINTS, load_config
from adapters.errors import ConfigurationError

ALIYUN = {
    "HUB_ALIYUN_SMS_ACCESS_KEY_ID": "LTAIkey",
    "HUB_ALIYUN_SMS_ACCESS_KEY_SECRET": "very-secret-value",
    "HUB_ALIYUN_SMS_SIGN_NAME": "某区委组织部",
    "HUB_ALIYUN_SMS_TEMPLATE_CODE": "SMS_1",
}


def test_nothing_configured() -> None:
    config = load_config({})
    assert config.configured() == []


def test_env_with_defaults() -> None:
    config = load_config(ALIYUN)
    assert config.aliyun_sms is not None
    assert config.aliyun_sms.endpoint == DEFAULT_ENDPOINTS["aliyun-sms"]
    assert config.aliyun_sms.param_max_chars == 35
    assert config.configured() == ["aliyun-sms"]


def test_file_keys_and_env_wins() -> None:
    file_values: dict[str, object] = {
        "wecom_corp_id": "ww-file",
        "wecom_corp_secret": "file-secret",
        "wecom_agent_id": 1000002,
        "tencent_sms_secret_id": "AKID",
        "tencent_sms_secret_key": "k",
        "tencent_sms_sdk_app_id": "1400000001",
        "tencent_sms_sign_name": "签名",
        "tencent_sms_template_id": "1",
    }
    config = load_config({"HUB_WECOM_CORP_ID": "ww-env"}, file_values)
    assert config.wecom is not None and config.wecom.corp_id == "ww-env"
    assert config.wecom.agent_id == 1000002
    assert config.tencent_sms is not None and config.tencent_sms.region == "ap-guangzhou"


def test_partial_configuration_names_what_is_missing() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config({"HUB_WECHAT_APP_ID": "wx1"})
    message = str(caught.value)
    assert "HUB_WECHAT_APP_SECRET" in message and "HUB_WECHAT_TEMPLATE_ID" in message
    assert "wechat_app_secret" in message


@pytest.mark.parametrize(
    ("endpoint", "ok"),
    [
        ("https://sms.example.cn", True),
        ("http://127.0.0.1:9000", True),
        ("http://localhost:9000/", True),
        ("http://[::1]:9000", True),
        ("http://10.0.0.5:9000", False),
        ("http://sms.example.cn", False),
        ("ftp://127.0.0.1", False),
    ],
)
def test_http_endpoints_only_for_loopback(endpoint: str, ok: bool) -> None:
    env = ALIYUN | {"HUB_ALIYUN_SMS_ENDPOINT": endpoint}
    if ok:
        config = load_config(env)
        assert config.aliyun_sms is not None
        assert config.aliyun_sms.endpoint == endpoint.rstrip("/")
    else:
        with pytest.raises(ConfigurationError, match="HUB_ALIYUN_SMS_ENDPOINT"):
            load_config(env)


def test_bad_integer() -> None:
    env = {"HUB_WECOM_CORP_ID": "a", "HUB_WECOM_CORP_SECRET": "b", "HUB_WECOM_AGENT_ID": "x"}
    with pytest.raises(ConfigurationError, match="HUB_WECOM_AGENT_ID must be an integer"):
        load_config(env)


def test_secrets_never_in_repr() -> None:
    env = ALIYUN | {"HUB_WECOM_BOT_KEY": "bot-key-123456"}
    text = repr(load_config(env))
    assert "very-secret-value" not in text and "bot-key-123456" not in text
    assert "LTAIkey" in text
