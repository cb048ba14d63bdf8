"""Provider callbacks of a real `hub serve` process: mounted only for the configured
providers, only under the secret HUB_CALLBACK_PREFIX, only from HUB_CALLBACK_ALLOW
(X-Forwarded-For believed only from HUB_CALLBACK_TRUSTED_PROXIES); bad settings
stop the hub with a clear message."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.hubs import HubProcess

PREFIX = "/callbacks/Zk9-secret-path-4f1c"
ALIYUN = {
    "HUB_ALIYUN_SMS_ACCESS_KEY_ID": "LTAIexample",
    "HUB_ALIYUN_SMS_ACCESS_KEY_SECRET": "example-secret-value",
    "HUB_ALIYUN_SMS_SIGN_NAME": "通知测试",
    "HUB_ALIYUN_SMS_TEMPLATE_CODE": "SMS_100000001",
}
UPLINK = [{"phone_number": "13900000003", "content": "1", "send_time": ""}]
REPLY = {"mobile": "13900000003", "nationcode": "86", "text": "1", "time": 1}


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[list[HubProcess]]:
    started: list[HubProcess] = []
    yield started
    for hub in started:
        hub.stop()


def start(started: list[HubProcess], tmp_path: Path, env: dict[str, str], *args: str) -> HubProcess:
    hub = HubProcess(tmp_path / f"data{len(started)}", env=env, args=args)
    hub.start()
    started.append(hub)
    return hub


async def post(url: str, body: Any, **headers: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_routes_only_for_configured_providers_under_the_prefix(
    tmp_path: Path, hubs: list[HubProcess]
) -> None:
    hub = start(hubs, tmp_path, {**ALIYUN, "HUB_CALLBACK_PREFIX": PREFIX})
    base = hub.http_url
    status, body = await post(f"{base}{PREFIX}/aliyun-sms/uplink", UPLINK)
    assert status == 200 and body == {"code": 0, "msg": "接收成功"}
    # Tencent is not configured: no route, under the prefix or elsewhere
    for path in (f"{PREFIX}/tencent-sms/reply", "/callbacks/tencent-sms/reply"):
        status, body = await post(base + path, REPLY)
        assert status == 404 and body["error"]["message"], path
    # the configured provider under a wrong or the old, guessable prefix
    for path in (
        "/callbacks/aliyun-sms/uplink",
        "/callbacks/Zk9-secret-path-4f1d/aliyun-sms/uplink",
    ):
        status, body = await post(base + path, UPLINK)
        assert status == 404 and "error" in body, path
    async with aiohttp.ClientSession() as s, s.get(f"{base}{PREFIX}/wechat/events") as r:
        assert r.status == 404  # WeChat is not configured
    assert PREFIX not in hub.log()  # the secret path is never logged
    assert "Traceback" not in hub.log()


async def test_source_allow_list_and_trusted_proxies(
    tmp_path: Path, hubs: list[HubProcess]
) -> None:
    env = {**ALIYUN, "HUB_CALLBACK_PREFIX": PREFIX}
    # flags win over the environment; X-Forwarded-For is not believed from 127.0.0.1 here
    hub = start(hubs, tmp_path, env, "--callback-allow", "192.0.2.0/24, 2001:db8::/32")
    url = f"{hub.http_url}{PREFIX}/aliyun-sms/uplink"
    status, body = await post(url, UPLINK)
    assert status == 403 and body["error"]["code"] == 103 and body["error"]["message"]
    status, _ = await post(url, UPLINK, **{"X-Forwarded-For": "192.0.2.7"})
    assert status == 403
    # behind a trusted proxy (127.0.0.1) the right-most untrusted X-Forwarded-For counts
    proxied = start(
        hubs,
        tmp_path,
        {**env, "HUB_CALLBACK_ALLOW": "192.0.2.0/24", "HUB_CALLBACK_TRUSTED_PROXIES": "127.0.0.1"},
    )
    url = f"{proxied.http_url}{PREFIX}/aliyun-sms/uplink"
    assert (await post(url, UPLINK, **{"X-Forwarded-For": "192.0.2.7"}))[0] == 200
    assert (await post(url, UPLINK))[0] == 403  # the proxy itself is not a provider
    spoofed = {"X-Forwarded-For": "192.0.2.7, 198.51.100.9"}  # the client wrote the first hop
    assert (await post(url, UPLINK, **spoofed))[0] == 403
    assert "not in HUB_CALLBACK_ALLOW" in proxied.log() and "Traceback" not in proxied.log()


async def test_no_prefix_no_callback_routes(tmp_path: Path, hubs: list[HubProcess]) -> None:
    hub = start(hubs, tmp_path, dict(ALIYUN))
    assert (await post(f"{hub.http_url}/callbacks/aliyun-sms/uplink", UPLINK))[0] == 404
    assert "HUB_CALLBACK_PREFIX is not set" in hub.log()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"HUB_CALLBACK_PREFIX": "/callbacks"}, "HUB_CALLBACK_PREFIX must be a path"),
        ({"HUB_CALLBACK_PREFIX": "/cb/../x" + "a" * 16}, "HUB_CALLBACK_PREFIX must be a path"),
        (
            {"HUB_CALLBACK_PREFIX": "/callbacks/CHANGE-ME-to-HUB_CALLBACK_PREFIX-secret"},
            "HUB_CALLBACK_PREFIX must be a path",
        ),
        ({"HUB_CALLBACK_ALLOW": "10.0.0.0/8,not-a-net"}, "'not-a-net' is not an IP address"),
        ({"HUB_ALIYUN_SMS_ACCESS_KEY_ID": "x"}, "aliyun-sms is partly configured"),
    ],
)
def test_bad_callback_or_provider_settings_stop_the_hub_cleanly(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    hub_env = {"HUB_DATA_DIR": str(tmp_path), "HUB_PORT": "0", "PATH": "/usr/bin:/bin", **env}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "hub"), "serve"],
        env=hub_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "configuration error" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
