"""The network drops and comes back: the page says so honestly, reconnects with
backoff, recovers from its last offsets (``subscribe`` with ``since``) and sends
what was typed meanwhile — nothing lost, nothing doubled."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.conftest import CuttableProxy, Hub, People
from tests.web.test_chat import GROUP, offsets, send, sign_in


def test_network_drop_loses_and_doubles_nothing(
    hub: Hub, proxy: CuttableProxy, people: People
) -> None:
    li = sign_in(people, hub, "li.na", "李娜")
    li.goto(f"{hub.url}/#/chats/xh-staff")
    token = hub.token("liu.yang", name="刘洋")
    liu = people.open(f"{proxy.url}/#token={token}", who="liu.yang", phone=True)
    conn = liu.locator("#conn")
    expect(conn).to_have_attribute("data-state", "connected")
    assert liu.evaluate("window.tongzhi.hub.wire") == "msgpack"
    liu.goto(f"{proxy.url}/#/chats/xh-staff")
    send(li, "断网前的消息")
    expect(liu.locator(".messages li.msg", has_text="断网前的消息")).to_be_visible()

    # the phone loses its network: open connections die, new ones are refused
    liu.context.set_offline(True)
    proxy.cut()
    expect(conn).to_have_attribute("data-state", re.compile("offline|reconnecting"))
    expect(conn).to_contain_text(re.compile("离线|重新连接中"))
    for i in range(1, 6):
        send(li, f"断网期间的消息 {i}")
    hub.publish(GROUP, {"text": "系统消息：断网期间"})
    send(liu, "我在地铁里，稍后回复")  # typed while offline: waits in the outbox
    expect(liu.locator(".messages li.msg.pending .status")).to_contain_text("恢复后自动发送")

    proxy.restore()
    liu.context.set_offline(False)
    expect(conn).to_have_attribute("data-state", "connected")
    expect(liu.locator(".messages li.msg", has_text="我在地铁里")).not_to_have_class(
        re.compile("pending")
    )
    expect(li.locator(".messages li.msg", has_text="我在地铁里")).to_have_count(1)
    expect(liu.locator(".messages li.msg")).to_have_count(8)
    assert offsets(liu) == list(range(1, 9))
    assert offsets(li) == list(range(1, 9))

    # a second drop while the other side keeps talking, with no offline event at all
    proxy.cut()
    expect(conn).to_have_attribute("data-state", "reconnecting")
    send(li, "第二次断网期间")
    proxy.restore()
    expect(conn).to_have_attribute("data-state", "connected")
    expect(liu.locator(".messages li.msg", has_text="第二次断网期间")).to_have_count(1)
    assert offsets(liu) == list(range(1, 10))
    texts = liu.locator(".messages li.msg .bubble").all_inner_texts()
    assert len(texts) == len(set(texts)) == 9
    assert not people.errors
