"""Notices in a real browser: an administrator composes a notice to a unit, two
recipients open and sign it in their own pages, and the sender's dashboard fills
live (counts, roll-up); remind, CSV and 回执单 export, recall."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Hub, People
from tests.web.test_chat import sign_in


def count(page: Any, state: str) -> Any:
    return page.locator(f'.legend b[data-count="{state}"]')


def rollup(page: Any, unit: str, state: str) -> Any:
    return page.locator(f'#rollup tr[data-unit="{unit}"] td[data-state="{state}"]')


def test_notice_to_a_unit_signed_live_on_the_dashboard(
    hub: Hub, people: People, tmp_path: Path
) -> None:
    zhang = sign_in(people, hub, "zhang.wei", "张伟", admin=True)
    li = sign_in(people, hub, "li.na", "李娜")
    wang = sign_in(people, hub, "wang.fang", "王芳", phone=True)
    liu = sign_in(people, hub, "liu.yang", "刘洋", phone=True)
    before = {}
    for page in (li, wang, liu):  # the demo organization sent them a notice or an alert
        page.goto(f"{hub.url}/#/inbox")
        expect(page.locator(".card").first).to_be_visible()
        before[page] = int(page.locator("#badge-inbox").inner_text() or 0)

    # compose: the 新华街道 unit with its sub-units, a deadline, 签收, one escalation rung
    zhang.get_by_role("link", name="发通知").click()
    zhang.get_by_role("link", name=re.compile("发布新通知")).click()
    zhang.get_by_label("标题").fill("关于开展主题党日活动的通知")
    zhang.get_by_label("正文").fill("请各支部于本周五前组织主题党日活动，并签收本通知。")
    zhang.get_by_role("checkbox", name="新华街道 街道", exact=True).check()
    zhang.get_by_label("截止时间").fill("2031-06-30T17:00")
    zhang.get_by_role("button", name="＋ 添加一级").click()
    zhang.get_by_role("button", name="发布").click()

    expect(zhang.get_by_role("heading", name="关于开展主题党日活动的通知")).to_be_visible()
    expect(count(zhang, "acked")).to_have_text("0")
    expect(zhang.locator("#unsigned tbody tr")).to_have_count(3)  # 李娜, 王芳, 刘洋 (flowing)
    expect(rollup(zhang, "sfq-xh", "acked")).to_have_text("0")

    # each recipient's page has it at once (delivered), marked unsigned
    for page in (li, wang, liu):
        card = page.locator(".card", has_text="关于开展主题党日活动的通知")
        expect(card).to_have_class(re.compile("unsigned"))
        expect(card).to_contain_text("2031年6月30日 17:00 截止")
        expect(page.locator("#badge-inbox")).to_have_text(str(before[page] + 1))
    expect(count(zhang, "delivered")).to_have_text("3")

    # 李娜 opens it (read) ... and signs it
    li.locator(".card", has_text="关于开展主题党日活动的通知").click()
    expect(count(zhang, "read")).to_have_text("1")
    li.get_by_role("button", name="签收").click()
    expect(li.locator(".signed")).to_have_text("✓ 已签收")
    expect(count(zhang, "acked")).to_have_text("1")
    expect(rollup(zhang, "sfq-xh", "acked")).to_have_text("1")

    # 王芳 on her phone
    wang.locator(".card", has_text="关于开展主题党日活动的通知").click()
    wang.get_by_role("button", name="签收").click()
    expect(wang.locator("#badge-inbox")).to_have_text(str(before[wang]))
    expect(count(zhang, "acked")).to_have_text("2")
    expect(rollup(zhang, "sfq-xh", "acked")).to_have_text("2")
    expect(rollup(zhang, "sfq-xh-ay-1", "acked")).to_have_text("1")
    expect(rollup(zhang, "sfq", "acked")).to_have_text("2")
    expect(zhang.locator("#unsigned tbody tr")).to_have_count(1)
    expect(zhang.locator("#unsigned")).to_contain_text("刘洋")
    # 刘洋 (flowing, attached to 和平街道's branch) counts under the home branch too
    via = '#rollup tr[data-unit="{}"] [data-via]'
    expect(zhang.locator(via.format("sfq-xh-ay-2"))).to_have_text(" 含流动党员 1 人")
    expect(zhang.locator(via.format("sfq-xh"))).to_have_text(" 含流动党员 1 人")
    expect(zhang.locator(via.format("sfq"))).to_have_count(0)  # counted once above both
    expect(rollup(zhang, "sfq", "acked")).to_have_text("2")
    expect(zhang.get_by_role("heading", name=re.compile("签收进度 67%"))).to_be_visible()

    # one click reminds the one who has not signed
    zhang.get_by_role("button", name=re.compile("提醒未签收的 1 人")).click()
    expect(zhang.locator("#toast")).to_contain_text("已提醒 1 人")
    expect(liu.locator(".card", has_text="关于开展主题党日活动的通知")).to_contain_text("被提醒")

    # exports: CSV and the printable 回执单
    with zhang.expect_download() as got:
        zhang.get_by_role("button", name="导出 CSV").click()
    csv_path = tmp_path / "receipts.csv"
    got.value.save_as(csv_path)
    assert got.value.suggested_filename.endswith(".csv")
    text = csv_path.read_text(encoding="utf-8-sig")
    assert "王芳" in text and "已签收" in text and "刘洋" in text
    with zhang.expect_download() as got:
        zhang.get_by_role("button", name="下载回执单").click()
    sheet = tmp_path / "sheet.html"
    got.value.save_as(sheet)
    assert "关于开展主题党日活动的通知" in sheet.read_text(encoding="utf-8")

    # recall: the recipient who had not signed sees it withdrawn
    zhang.once("dialog", lambda d: d.accept())
    zhang.get_by_role("button", name="撤回").click()
    expect(zhang.locator(".card-meta")).to_contain_text("撤回")
    card = liu.locator(".card", has_text="关于开展主题党日活动的通知")
    expect(card).to_contain_text("已撤回")
    expect(liu.locator("#badge-inbox")).to_have_text(str(before[liu]))
    assert not people.errors


def test_alert_stands_out_and_inbox_catches_up_after_reconnect(hub: Hub, people: People) -> None:
    wang = sign_in(people, hub, "wang.fang", "王芳", phone=True)
    wang.goto(f"{hub.url}/#/inbox")
    expect(wang.locator(".card").first).to_be_visible()  # the demo's sample notice
    admin = hub.token("zhang.wei", admin=True)
    hub.api(
        "POST",
        "/api/alerts",
        {
            "title": "防汛紧急通知",
            "body": "今晚有暴雨，请立即转移低洼地区群众。",
            "audience": {"members": ["wang.fang"]},
        },
        token=admin,
    )
    card = wang.locator(".card", has_text="防汛紧急通知")
    expect(card).to_have_class(re.compile("alert"))
    expect(card.locator(".pill.red")).to_have_text("紧急")
    card.click()
    expect(wang.get_by_role("alert")).to_contain_text("紧急通知")
    wang.get_by_role("button", name="签收").click()
    expect(wang.locator(".signed")).to_be_visible()
    got = hub.api("GET", "/api/inbox", token=hub.token("wang.fang"))
    assert got["notices"][0]["state"] == "acked"
    assert not people.errors


def test_free_kind_labels_and_a_deep_tree_on_the_sender_pages(hub: Hub, people: People) -> None:
    """A kind stored as written (联合党支部, or a word like ``constructor``) shows as
    itself in the compose tree, and the dashboard's roll-up reaches the top of a
    chain deeper than any fixed limit (the server takes any depth)."""
    hub.api(
        "POST",
        "/api/units",
        {"id": "k0", "name": "联合支部", "parent": "sfq", "kind": "联合党支部"},
    )
    hub.api(
        "POST",
        "/api/units",
        {"id": "k1", "name": "特别小组", "parent": "k0", "kind": "constructor"},
    )
    depth = 80
    for i in range(2, depth):
        hub.api("POST", "/api/units", {"id": f"k{i}", "name": f"第{i}级", "parent": f"k{i - 1}"})
    hub.api("POST", "/api/members", {"id": "deep1", "name": "周深", "unit": f"k{depth - 1}"})
    zhang = sign_in(people, hub, "zhang.wei", "张伟", admin=True)
    zhang.goto(f"{hub.url}/#/compose")
    expect(zhang.get_by_role("checkbox", name="联合支部 联合党支部", exact=True)).to_be_visible()
    expect(zhang.get_by_role("checkbox", name="特别小组 constructor", exact=True)).to_be_visible()
    sent = hub.api(
        "POST",
        "/api/notices",
        {"title": "深层通知", "body": "内容", "audience": {"units": ["k0"]}, "sender": "zhang.wei"},
    )
    zhang.goto(f"{hub.url}/#/notices/{sent['notice']['id']}")
    for unit in ("k0", "k1", f"k{depth - 1}"):
        expect(zhang.locator(f'#rollup tr[data-unit="{unit}"]')).to_have_count(1)
    expect(zhang.locator('#rollup tr[data-unit="k0"] td.num').first).to_have_text("1")
    assert not people.errors
