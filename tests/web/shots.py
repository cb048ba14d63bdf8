"""Screenshots for docs/img (not a test): ``.venv/bin/python -m tests.web.shots``.

Starts ``hub serve --demo``, has a few demo members talk and sign, and saves the
chat, the inbox and the dashboard at desktop and phone widths."""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.support.hubs import HubProcess
from tests.web.conftest import CHROMIUM, DESKTOP, LAUNCH_ARGS, PHONE

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def main() -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc = HubProcess(Path(tmp) / "data", args=["--demo"])
        proc.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
                try:
                    shoot(browser, proc)
                finally:
                    browser.close()
        finally:
            proc.stop()


def page_for(browser, proc, member, name, phone=False, admin=False):  # type: ignore[no-untyped-def]
    claims = {"name": name, **({"role": "admin"} if admin else {})}
    ctx = browser.new_context(
        viewport=PHONE if phone else DESKTOP, locale="zh-CN", device_scale_factor=2 if phone else 1
    )
    page = ctx.new_page()
    page.goto(f"{proc.http_url}/#token={proc.token(member, **claims)}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    return page


def shoot(browser, proc) -> None:  # type: ignore[no-untyped-def]
    li = page_for(browser, proc, "li.na", "李娜")
    liu = page_for(browser, proc, "liu.yang", "刘洋", phone=True)
    zhang = page_for(browser, proc, "zhang.wei", "张伟", admin=True)
    for page in (li, liu, zhang):
        page.goto(page.url.split("#")[0] + "#/chats/xh-staff")
    lines = [
        (zhang, "各位好，本周五下午三点在街道会议室召开党务工作例会。"),
        (li, "收到，我负责准备会议材料 @刘洋 请把流动党员联系情况汇总一下"),
        (liu, "好的，今晚前发到群里。我现在在深圳，可以线上参会吗？"),
        (zhang, "可以，会议链接稍后发出。"),
    ]
    for page, text in lines:
        page.locator("#msg-input").fill(text)
        page.get_by_role("button", name="发送").click()
        expect(li.locator(".messages li.msg", has_text=text[:8])).to_be_visible()
    expect(liu.locator(".messages li.msg")).to_have_count(4)
    li.screenshot(path=str(IMG / "chat.png"))
    liu.screenshot(path=str(IMG / "chat-phone.png"))

    wang = page_for(browser, proc, "wang.fang", "王芳", phone=True)
    zhang.goto(zhang.url.split("#")[0] + "#/sent")
    zhang.locator(".card", has_text="七月主题党日").click()
    expect(zhang.locator("#rollup")).to_be_visible()
    for page in (li, wang):
        page.goto(page.url.split("#")[0] + "#/inbox")
        page.locator(".card", has_text="七月主题党日").click()
        page.get_by_role("button", name="签收").click()
        expect(page.locator(".signed")).to_be_visible()
    wang.goto(wang.url.split("#")[0] + "#/inbox")
    expect(wang.locator(".card").first).to_be_visible()
    wang.screenshot(path=str(IMG / "inbox-phone.png"))
    liu.goto(liu.url.split("#")[0] + "#/inbox")
    liu.locator(".card.alert").first.click()
    expect(liu.get_by_role("button", name="签收")).to_be_visible()
    liu.screenshot(path=str(IMG / "alert-phone.png"))
    li.goto(li.url.split("#")[0] + "#/inbox")
    expect(li.locator(".card").first).to_be_visible()
    li.screenshot(path=str(IMG / "inbox.png"))
    expect(zhang.locator('.legend b[data-count="acked"]')).to_have_text("2")
    zhang.set_viewport_size({"width": 1280, "height": 1100})
    zhang.screenshot(path=str(IMG / "dashboard.png"), full_page=True)
    zhang.goto(zhang.url.split("#")[0] + "#/compose")
    expect(zhang.get_by_label("标题")).to_be_visible()
    zhang.get_by_label("标题").fill("关于做好防汛值班工作的通知")
    zhang.screenshot(path=str(IMG / "compose.png"), full_page=True)
    for page in (li, liu, zhang, wang):
        page.context.close()


if __name__ == "__main__":
    main()
