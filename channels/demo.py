"""The demo organization of ``make run`` (``hub serve --demo``), loaded through
the CSV import — so loading it twice changes nothing — and the printout that
shows a person how to try group chat."""

from __future__ import annotations

from typing import Any, Final

from channels.directory.importer import run_import
from channels.directory.service import Directory
from channels.notices.model import parse_draft
from channels.notices.policy import parse_policy
from channels.notices.service import Notices
from hub.auth import TokenVerifier

__all__ = ["DEMO_GROUPS", "DEMO_TOKENS", "demo_instructions", "load_demo", "send_demo"]

_UNITS: Final = """编号,名称,上级单位,类型
sfq,示范区,,区
sfq-xh,新华街道,sfq,街道
sfq-hp,和平街道,sfq,街道
sfq-xh-ay,安园社区,sfq-xh,社区
sfq-xh-ay-1,安园社区第一党支部,sfq-xh-ay,支部
sfq-xh-ay-2,安园社区第二党支部,sfq-xh-ay,支部
sfq-hp-qs,青松社区,sfq-hp,社区
sfq-hp-qs-1,青松社区党支部,sfq-hp-qs,支部
sfq-hp-ld,和平街道流动党员党支部,sfq-hp,支部
"""

_MEMBERS: Final = """编号,姓名,所属支部/单位,角色,流动党员,流出支部,现居地,手机号,微信号
zhang.wei,张伟,sfq,干部、管理员,否,,,13800138001,zhangwei_sfq
li.na,李娜,sfq-xh,党务工作者,否,,,13800138002,
wang.fang,王芳,sfq-xh-ay-1,党员,否,,,13800138003,
sun.li,孙丽,sfq-hp,干部,否,,,13800138004,
chen.jing,陈静,sfq-hp-qs-1,党务工作者,否,,,13800138005,
liu.yang,刘洋,sfq-hp-ld,党员,是,sfq-xh-ay-2,广东省深圳市南山区,13800138006,liuyang88
zhao.lei,赵磊,sfq-hp-ld,党员,是,sfq-hp-qs-1,浙江省杭州市西湖区,13800138007,
"""

_GROUPS: Final = """编号,名称,所属单位,群主,成员
xh-staff,新华街道党务工作群,sfq-xh,li.na,zhang.wei、li.na、wang.fang、liu.yang
flowing,流动党员联络群,sfq-hp,chen.jing,zhang.wei、chen.jing、sun.li、liu.yang、zhao.lei
"""

DEMO_GROUPS: Final = ("xh-staff", "flowing")
DEMO_TOKENS: Final = (
    ("zhang.wei", "张伟（干部、管理员）"),
    ("li.na", "李娜（党务工作者，新华街道）"),
    ("liu.yang", "刘洋（流动党员，现居深圳）"),
)


async def load_demo(directory: Directory) -> bool:
    """Load the demo organization; True when anything changed."""
    changed = False
    for kind, text in (("units", _UNITS), ("members", _MEMBERS), ("groups", _GROUPS)):
        result = await run_import(directory, kind, text.encode("utf-8"))
        if result.errors:
            raise RuntimeError(f"demo {kind}: {[e.to_json() for e in result.errors]}")
        changed = changed or result.changed
    return changed


def demo_instructions(verifier: TokenVerifier, host: str, port: int) -> str:
    ws, api = f"ws://{host}:{port}/ws", f"http://{host}:{port}/api/"
    lines = [
        "",
        "=== Tongzhi demo: 示范区 ===",
        f"Open http://{host}:{port}/ in a browser and pick a demo member (网页：选择演示成员登录)",
        f"WebSocket: {ws}    API: {api}",
        "groups: group:xh-staff (新华街道党务工作群), group:flowing (流动党员联络群)",
    ]
    for member, label in DEMO_TOKENS:
        lines.append(f"token for {member} {label}: {verifier.mint(member, name=member)}")
    admin = verifier.mint("zhang.wei", name="zhang.wei", extra={"role": "admin"})
    lines += [
        f"admin token (directory API): {admin}",
        "Try group chat (two terminals, two members of group:xh-staff):",
        f"  .venv/bin/python -m hub.client --url {ws} --token <token of li.na> "
        "subscribe group:xh-staff",
        f"  .venv/bin/python -m hub.client --url {ws} --token <token of liu.yang> "
        'publish group:xh-staff \'{"text": "你好，我是刘洋", "mentions": ["li.na"]}\'',
        f"Directory: curl -H 'Authorization: Bearer <admin token>' {api}units",
        "Notices: a sample notice went to 新华街道 (with sub-units) and an alert to the flowing",
        "members (WeChat after 30 s, SMS after 5 min while unsigned; the log adapter shows it).",
        "Watch the receipts live (admin token; sign as li.na or liu.yang with the receipt op):",
        f"  curl -H 'Authorization: Bearer <admin token>' '{api}notices?sender=zhang.wei'",
        f"  .venv/bin/python -m hub.client --url {ws} --token <admin token> subscribe notice:<id>",
        f"  .venv/bin/python -m hub.client --url {ws} --token <token of li.na> "
        'call receipt \'{"notice": "<id>", "state": "acked"}\'',
        f"Receipts: {api}notices/<id>/receipts?format=csv   回执单: {api}notices/<id>/sheet",
        "",
    ]
    return "\n".join(lines)


DEMO_NOTICE_IDEM: Final = "demo-notice-1"
DEMO_ALERT_IDEM: Final = "demo-alert-1"


async def send_demo(notices: Notices) -> list[str]:
    """Send the sample notice (to 新华街道 with its sub-units) and the sample alert
    (to the flowing members) once: idempotency keys make a restart send nothing new."""
    sent = []
    samples: list[tuple[str, str, dict[str, Any]]] = [
        (
            "notice",
            DEMO_NOTICE_IDEM,
            {
                "title": "关于开展七月主题党日活动的通知",
                "body": "各支部：请于本月底前组织开展主题党日活动，并在系统中签收本通知。",
                "audience": {"units": ["sfq-xh"], "subunits": True},
                "classification": "内部",
                "deadline": "2030-07-31T17:00:00+08:00",
            },
        ),
        (
            "alert",
            DEMO_ALERT_IDEM,
            {
                "title": "流动党员信息核对",
                "body": "请流动党员于今日内核对并更新现居地和联系方式。",
                "audience": {"flowing": True},
                "urgency": "urgent",
                "escalation": [{"after": "30s", "via": "wechat"}, {"after": "5m", "via": "sms"}],
            },
        ),
    ]
    for kind, idem, body in samples:
        draft = parse_draft({**body, "idem": idem}, "zhang.wei", kind)
        draft.policy = parse_policy(body, draft.require_ack)
        n, members, created = await notices.create(draft)
        if created:
            await notices.deliver(n, members)
        sent.append(n.id)
    return sent
