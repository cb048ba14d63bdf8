"""Group chat in a real browser: two members see each other's messages, mentions,
unread counts and read markers, history paged back on scroll, presence."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Hub, People

GROUP = "group:xh-staff"  # 新华街道党务工作群: zhang.wei, li.na, wang.fang, liu.yang


def sign_in(
    people: People, hub: Hub, member: str, name: str, *, admin: bool = False, **kw: Any
) -> Any:
    """The production hand-off: the organization's login sends the person to
    ``/#token=…``."""
    token = hub.token(member, name=name, admin=admin)
    page = people.open(f"{hub.url}/#token={token}", who=member, **kw)
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    return page


def offsets(page: Any) -> list[int]:
    return [
        int(x)
        for x in page.locator(".messages li.msg[data-offset]").evaluate_all(
            "els => els.map(e => e.dataset.offset)"
        )
    ]


def send(page: Any, text: str) -> None:
    page.locator("#msg-input").fill(text)
    page.get_by_role("button", name="发送").click()


def test_demo_sign_in_and_two_members_chat(hub: Hub, people: People) -> None:
    li = people.open(hub.url, who="li.na")
    li.get_by_role("button", name=re.compile("李娜")).click()
    expect(li.locator("#conn")).to_have_attribute("data-state", "connected")
    expect(li.locator("#conn")).to_contain_text("已连接")
    expect(li.locator("#me-name")).to_have_text("李娜")
    li.get_by_role("link", name=re.compile("新华街道党务工作群")).click()
    expect(li.get_by_role("heading", name="新华街道党务工作群")).to_be_visible()

    liu = sign_in(people, hub, "liu.yang", "刘洋", phone=True)
    liu.goto(f"{hub.url}/#/chats/xh-staff")
    expect(liu.get_by_role("heading", name="新华街道党务工作群")).to_be_visible()
    expect(li.locator(".presence-btn")).to_have_text("在线 2/4")

    # a mention picked with the keyboard from the @ list
    li.locator("#msg-input").fill("请明天上午报送材料 @刘")
    expect(li.get_by_role("option", name=re.compile("刘洋"))).to_be_visible()
    li.keyboard.press("Enter")  # chooses the highlighted member
    expect(li.locator("#msg-input")).to_have_value("请明天上午报送材料 @刘洋 ")
    li.keyboard.press("Enter")  # sends
    msg = liu.locator(".messages li.msg", has_text="请明天上午报送材料")
    expect(msg).to_have_class(re.compile("mentioned"))
    expect(msg.locator("mark.mention")).to_have_text("@刘洋")

    send(liu, "收到，下午前报送")
    expect(li.locator(".messages li.msg", has_text="收到，下午前报送")).to_be_visible()
    expect(li.locator(".messages li.msg.mine")).to_have_count(1)
    # liu's own message gets its offset when the publish is acknowledged: wait for it
    expect(liu.locator(".messages li.msg[data-offset]")).to_have_count(2)
    expect(li.locator(".messages li.msg[data-offset]")).to_have_count(2)
    assert offsets(li) == offsets(liu) == [1, 2]
    assert not people.errors


def test_unread_counts_read_markers_and_history_on_scroll(hub: Hub, people: People) -> None:
    for i in range(1, 121):
        hub.publish(GROUP, {"text": f"历史消息 {i}"})
    wang = sign_in(people, hub, "wang.fang", "王芳")
    item = wang.locator(f'.chat-item[data-channel="{GROUP}"]')
    expect(item.locator(".badge")).to_have_text("99+")
    expect(wang.locator("#badge-chats")).to_have_text("99+")

    # a second tab of the same member opens the chat: the first one's count clears
    other = sign_in(people, hub, "wang.fang", "王芳")
    other.goto(f"{hub.url}/#/chats/xh-staff")
    expect(other.locator(".messages li.msg").last).to_contain_text("历史消息 120")
    expect(item.locator(".badge")).to_have_count(0)
    expect(wang.locator("#badge-chats")).to_be_hidden()

    # paging back: 40 at a time as the list is scrolled to the top
    assert offsets(other) == list(range(81, 121))
    msgs = other.locator(".messages li.msg")
    for _ in range(5):
        if other.locator(".messages .start").count():
            break
        n = msgs.count()
        other.locator(".scroller").evaluate("el => el.scrollTop = 0")
        expect(msgs).not_to_have_count(n)
    expect(other.locator(".messages .start")).to_have_text("以上是全部消息")
    assert offsets(other) == list(range(1, 121))

    # news while the chat is closed counts as unread; the sender's own do not
    hub.publish(GROUP, {"text": "新消息"})
    other.goto(f"{hub.url}/#/chats")
    hub.publish(GROUP, {"text": "又一条"})
    expect(other.locator(f'.chat-item[data-channel="{GROUP}"] .badge')).to_have_text("1")
    expect(wang.locator(f'.chat-item[data-channel="{GROUP}"] .badge')).to_have_text("1")
    assert not people.errors
