"""Local stand-ins for every provider, for tests and the sandbox mode.

``start_standins()`` starts them on free loopback ports; ``Standins.env()``
gives the ``HUB_*`` settings that point every provider at them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config import AdaptersConfig, load_config
from ..core.faults import FAULT_KINDS, FaultKind, Faults
from ..core.standin import StandinServer
from ..providers.aliyun_sms.standin import AliyunStandin
from ..providers.tencent_sms.standin import TencentStandin
from ..providers.wechat_oa.standin import WechatStandin
from ..providers.wecom.standin import WecomStandin

__all__ = [
    "FAULT_KINDS",
    "AliyunStandin",
    "FaultKind",
    "Faults",
    "Standins",
    "TencentStandin",
    "WechatStandin",
    "WecomStandin",
    "start_standins",
]


@dataclass
class Standins:
    """The running stand-ins, their endpoints and the credentials they accept."""

    aliyun: AliyunStandin
    tencent: TencentStandin
    wecom: WecomStandin
    wechat: WechatStandin

    def servers(self) -> list[StandinServer]:
        return [self.aliyun, self.tencent, self.wecom, self.wechat]

    def endpoints(self) -> dict[str, str]:
        """Base URL per provider name (``wecom`` and ``wecom-bot`` share one server)."""
        return {
            "aliyun-sms": self.aliyun.base_url,
            "tencent-sms": self.tencent.base_url,
            "wecom": self.wecom.base_url,
            "wecom-bot": self.wecom.base_url,
            "wechat": self.wechat.base_url,
        }

    def env(self) -> dict[str, str]:
        """``HUB_*`` settings that configure every provider against the stand-ins."""
        a, t, w, o = self.aliyun, self.tencent, self.wecom, self.wechat
        return {
            "HUB_ALIYUN_SMS_ACCESS_KEY_ID": a.access_key_id,
            "HUB_ALIYUN_SMS_ACCESS_KEY_SECRET": a.access_key_secret,
            "HUB_ALIYUN_SMS_SIGN_NAME": a.sign_name,
            "HUB_ALIYUN_SMS_TEMPLATE_CODE": a.template_code,
            "HUB_ALIYUN_SMS_ENDPOINT": a.base_url,
            "HUB_ALIYUN_SMS_PARAM_MAX_CHARS": str(a.param_max_chars),
            "HUB_TENCENT_SMS_SECRET_ID": t.secret_id,
            "HUB_TENCENT_SMS_SECRET_KEY": t.secret_key,
            "HUB_TENCENT_SMS_SDK_APP_ID": t.sdk_app_id,
            "HUB_TENCENT_SMS_SIGN_NAME": t.sign_name,
            "HUB_TENCENT_SMS_TEMPLATE_ID": t.template_id,
            "HUB_TENCENT_SMS_REGION": "ap-guangzhou",
            "HUB_TENCENT_SMS_ENDPOINT": t.base_url,
            "HUB_TENCENT_SMS_PARAM_MAX_CHARS": str(t.param_max_chars),
            "HUB_WECOM_CORP_ID": w.corp_id,
            "HUB_WECOM_CORP_SECRET": w.corp_secret,
            "HUB_WECOM_AGENT_ID": str(w.agent_id),
            "HUB_WECOM_ENDPOINT": w.base_url,
            "HUB_WECOM_BOT_KEY": w.bot_key,
            "HUB_WECOM_BOT_ENDPOINT": w.base_url,
            "HUB_WECHAT_APP_ID": o.app_id,
            "HUB_WECHAT_APP_SECRET": o.app_secret,
            "HUB_WECHAT_TEMPLATE_ID": o.template_id,
            "HUB_WECHAT_CALLBACK_TOKEN": o.callback_token,
            "HUB_WECHAT_ENDPOINT": o.base_url,
        }

    def config(self) -> AdaptersConfig:
        return load_config(self.env())

    def send_reports_to(self, callbacks_base: str) -> None:
        """Push delivery reports and SMS replies to the hub's callback routes under
        ``callbacks_base`` (the hub's URL + its ``HUB_CALLBACK_PREFIX``)."""
        base = callbacks_base.rstrip("/")
        self.aliyun.report_url = f"{base}/aliyun-sms/report"
        self.aliyun.uplink_url = f"{base}/aliyun-sms/uplink"
        self.tencent.report_url = f"{base}/tencent-sms/status"
        self.tencent.reply_url = f"{base}/tencent-sms/reply"
        self.wechat.event_url = f"{base}/wechat/events"

    def auto_reply(self, answer: Callable[[str], str | None] | None) -> None:
        """Let both SMS stand-ins answer each SMS with ``answer(text)`` (None: no reply)."""
        self.aliyun.auto_reply = answer
        self.tencent.auto_reply = answer

    async def wait_pushes(self) -> None:
        for server in self.servers():
            await server.wait_pushes()

    async def close(self) -> None:
        for server in self.servers():
            await server.close()


async def start_standins(
    host: str = "127.0.0.1", *, wall: Callable[[], float] = time.time
) -> Standins:
    """Start all stand-ins on free ports of ``host``; ``close()`` stops them."""
    standins = Standins(
        AliyunStandin(wall=wall),
        TencentStandin(wall=wall),
        WecomStandin(wall=wall),
        WechatStandin(wall=wall),
    )
    started: list[StandinServer] = []
    try:
        for server in standins.servers():
            await server.start(host)
            started.append(server)
    except BaseException:
        for server in started:
            await server.close()
        raise
    return standins
