"""Group chat: live revocation, message schema, read markers, unread counts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.channels.conftest import DomainHub, domain_hub, load_org
from tests.support.ws import WsClient, open_ws

ATTACHMENT = {
    "name": "会议纪要.pdf",
    "url": "https://files.example.cn/a.pdf",
    "size": 52341,
    "sha256": "a" * 64,
}


async def _as(h: DomainHub, member: str, **claims: Any) -> WsClient:
    return await open_ws(h.hub.ws_url, h.token(member, **claims))


async def _connect(h: DomainHub, member: str) -> tuple[WsClient, dict[str, Any]]:
    c = await open_ws(h.hub.ws_url, connect=False)
    reply = await c.call("connect", token=h.token(member))
    assert reply["ok"], reply
    return c, reply


async def _say(c: WsClient, channel: str, text: str) -> int:
    r = await c.ok("publish", channel=channel, data={"text": text})
    return int(r["offset"])


async def test_removal_cuts_live_subscription(org: DomainHub) -> None:
    a, b = await _as(org, "m1"), await _as(org, "m1")
    other = await _as(org, "m2")
    for c in (a, b, other):
        await c.ok("subscribe", channel="group:g1")
    await org.ok("DELETE", "/api/groups/g1/members/m1")
    for c in (a, b):
        push = await c.push("unsubscribe", channel="group:g1")
        assert push["reason"]
        r = await c.call("publish", channel="group:g1", data={"text": "还在吗"})
        assert r["error"]["code"] == 103
        r = await c.call("subscribe", channel="group:g1")
        assert r["error"]["code"] == 103
    await _say(other, "group:g1", "m2 stays")  # the others are untouched
    assert (await other.push("message", channel="group:g1"))["data"] == {"text": "m2 stays"}


async def test_move_and_role_change_take_effect_at_once(org: DomainHub) -> None:
    m1 = await _as(org, "m1")
    for ch in ("unit:b1", "unit:s1", "unit:d"):
        await m1.ok("subscribe", channel=ch)
    await org.ok("POST", "/api/members/m1/move", {"unit": "b2"})
    assert (await m1.push("unsubscribe", channel="unit:b1"))["channel"] == "unit:b1"
    assert (await m1.push("unsubscribe", channel="unit:s1"))["channel"] == "unit:s1"
    assert (await m1.ok("subscribe", channel="unit:b2"))["channel"] == "unit:b2"
    assert (await m1.call("unsubscribe", channel="unit:d"))["ok"]  # d is still an ancestor
    staff = await _as(org, "staff1")
    await staff.ok("publish", channel="unit:s1", data={"text": "通知"})
    await org.ok("PATCH", "/api/members/staff1", {"roles": ["member"]})
    r = await staff.call("publish", channel="unit:s1", data={"text": "通知"})
    assert r["error"]["code"] == 103
    g2 = await _as(org, "m3")
    await g2.ok("subscribe", channel="group:g2")
    await org.ok("DELETE", "/api/groups/g2")
    await g2.push("unsubscribe", channel="group:g2")


async def test_group_message_schema(org: DomainHub) -> None:
    m1 = await _as(org, "m1")
    good = [
        {"text": "明天九点开会", "mentions": ["m2", "all"]},
        {"text": "收到", "reply_to": 1},
        {"attachments": [ATTACHMENT]},
    ]
    for data in good:
        assert (await m1.call("publish", channel="group:g1", data=data))["ok"], data
    bad: list[Any] = [
        "plain string",
        {},
        {"text": ""},
        {"text": "x", "color": "red"},
        {"text": "x", "mentions": "m2"},
        {"text": "x", "reply_to": 0},
        {"attachments": [{**ATTACHMENT, "sha256": "xyz"}]},
        {"attachments": [{**ATTACHMENT, "url": "ftp://x"}]},
        {"attachments": [{**ATTACHMENT, "size": -1}]},
        {"text": "x" * 4001},
    ]
    for data in bad:
        r = await m1.call("publish", channel="group:g1", data=data)
        assert r["error"]["code"] == 107, data
    outsider = await _as(org, "m3")
    r = await outsider.call("publish", channel="group:g1", data="not even an object")
    assert r["error"]["code"] == 103  # permission is checked before the data
    # the size limit (PROTOCOL.md §1: 106) comes before the group's message rules
    for data in ["x" * 70_000, {"text": "长" * 30_000}, {"text": "x", "extra": "y" * 70_000}]:
        r = await m1.call("publish", channel="group:g1", data=data)
        assert r["error"]["code"] == 106, r


async def test_read_markers_across_connections(org: DomainHub) -> None:
    a, b = await _as(org, "m1"), await _as(org, "m1")
    m2 = await _as(org, "m2")
    for _ in range(3):
        await _say(m2, "group:g1", "消息")
    r = await a.ok("read", channel="group:g1", offset=2)
    assert r["offset"] == 2
    push = await b.push("read", channel="group:g1")
    assert push["offset"] == 2
    r = await a.ok("read", channel="group:g1", offset=1)
    assert r["offset"] == 2  # never backwards
    r = await b.ok("read", channel="group:g1", offset=99)
    assert r["offset"] == 3  # clamped to the top
    assert (await a.push("read", channel="group:g1", offset=3))["client"]
    assert (await a.call("read", channel="group:g2", offset=1))["error"]["code"] == 103
    assert (await a.call("read", channel="group:g1", offset=-1))["error"]["code"] == 107


async def test_unread_after_reconnect_and_restart(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    async with domain_hub(data, database_url) as h:
        await load_org(h)
        m2 = await _as(h, "m2")
        for _ in range(3):
            await _say(m2, "group:g1", "消息")
        c, reply = await _connect(h, "m1")
        assert reply["unread"] == {"group:g1": 3}
        await c.ok("read", channel="group:g1", offset=2)
        await c.close()
        c, reply = await _connect(h, "m1")
        assert reply["unread"] == {"group:g1": 1}
        await _say(c, "group:g1", "我看过了")  # what one writes, one has read
        assert (await c.ok("unread"))["unread"] == {"group:g1": 0}
        _, reply = await _connect(h, "m2")
        assert reply["unread"] == {"group:g1": 1}  # m2's own three were read by writing
        assert (await h.ok("GET", "/api/members/m3/unread"))["unread"] == {"group:g2": 0}
        assert (await h.ok("GET", "/api/members/staff1/unread"))["unread"] == {"group:g1": 4}
        r = await c.call("unread", channels=["group:g2"])
        assert r["error"]["code"] == 103
    async with domain_hub(data, database_url) as h:  # markers and offsets are durable
        _, reply = await _connect(h, "m1")
        assert reply["unread"] == {"group:g1": 0}
        _, reply = await _connect(h, "staff1")
        assert reply["unread"] == {"group:g1": 4}


async def test_unread_starts_at_the_join(org: DomainHub) -> None:
    m2 = await _as(org, "m2")
    for i in range(30):
        await _say(m2, "group:g1", f"消息 {i}")
    # added through the membership route: the 30 earlier messages are not unread
    await org.ok("PUT", "/api/groups/g1/members/m3", {})
    c, reply = await _connect(org, "m3")
    assert reply["unread"] == {"group:g1": 0, "group:g2": 0}
    await _say(m2, "group:g1", "欢迎")
    assert (await c.ok("unread"))["unread"] == {"group:g1": 1, "group:g2": 0}
    assert (await org.ok("GET", "/api/members/m3/unread"))["unread"]["group:g1"] == 1
    # adding again someone already in the group keeps their count
    await org.ok("PUT", "/api/groups/g1/members/m3", {"owner": True})
    assert (await c.ok("unread"))["unread"]["group:g1"] == 1
    # a re-join starts afresh: what was said while away is not unread either
    await org.ok("DELETE", "/api/groups/g1/members/m3")
    for _ in range(5):
        await _say(m2, "group:g1", "不在时")
    await org.ok("PATCH", "/api/groups/g1", {"members": ["m1", "m2", "m3"]})
    _, reply = await _connect(org, "m3")
    assert reply["unread"]["group:g1"] == 0
    # the members already in the group keep their unread counts
    _, reply = await _connect(org, "m1")
    assert reply["unread"]["group:g1"] == 36


async def test_unread_starts_at_the_join_by_import_and_new_group(org: DomainHub) -> None:
    m2 = await _as(org, "m2")
    for _ in range(7):
        await _say(m2, "group:g1", "消息")
    csv = "编号,名称,群主,成员\ng1,安园工作群,staff1,m1、m2、admin1\n"
    status, body = await org.api("POST", "/api/directory/import?kind=groups", data=csv.encode())
    assert status == 200 and body["updated"] == 1, body
    _, reply = await _connect(org, "admin1")
    assert reply["unread"] == {"group:g1": 0}
    # a group deleted and created again under the same id keeps its channel's history
    await org.ok("DELETE", "/api/groups/g1")
    await org.ok("POST", "/api/groups", {"id": "g1", "name": "新群", "members": ["m2", "flow1"]})
    _, reply = await _connect(org, "flow1")
    assert reply["unread"] == {"group:g1": 0}


async def test_the_join_marker_is_set_before_access_changes(org: DomainHub) -> None:
    """The change notices (which clear the access cache, so a connected member can
    subscribe the group) come after the unread marker is set at the join, on every
    path that adds members: the membership route, PATCH, a new group, an import."""
    m2 = await _as(org, "m2")
    for i in range(3):
        await _say(m2, "group:g1", f"消息 {i}")
    seen: list[dict[str, int]] = []

    async def at_change(members: set[str] | None) -> None:
        if members and "m3" in members:
            seen.append(await org.ext.chat.markers.of("m3", ["group:g1", "group:g9"]))

    org.ext.directory.listeners.insert(0, at_change)
    await org.ok("PUT", "/api/groups/g1/members/m3", {})
    assert seen == [{"group:g1": 3}]
    await org.ok("DELETE", "/api/groups/g1/members/m3")
    await _say(m2, "group:g1", "再见")
    seen.clear()
    await org.ok("PATCH", "/api/groups/g1", {"members": ["m1", "m2", "m3"]})
    assert seen == [{"group:g1": 4}]
    await org.ok("DELETE", "/api/groups/g1/members/m3")
    await _say(m2, "group:g1", "又一条")
    seen.clear()
    csv = "编号,名称,成员\ng1,安园工作群,m1、m2、m3\n"
    status, body = await org.api("POST", "/api/directory/import?kind=groups", data=csv.encode())
    assert status == 200 and body["updated"] == 1, body
    assert seen == [{"group:g1": 5}]
    seen.clear()
    await org.ok("POST", "/api/groups", {"id": "g9", "name": "新群", "members": ["m3"]})
    assert seen == [{"group:g1": 5, "group:g9": 0}]


async def test_a_read_after_the_join_is_not_moved_back(org: DomainHub) -> None:
    """A join processed late (its top read before the member read a newer message)
    does not move the member's marker back below what they read."""
    m2 = await _as(org, "m2")
    for _ in range(3):
        await _say(m2, "group:g1", "旧消息")
    before_join = int(time.time() * 1000) - 1
    await org.ok("PUT", "/api/groups/g1/members/m3", {})
    c, _ = await _connect(org, "m3")
    await c.ok("subscribe", channel="group:g1")
    top = await _say(m2, "group:g1", "新消息")
    assert (await c.ok("read", channel="group:g1", offset=top))["offset"] == top
    # the late join: the top it read (3) and the time it started, before the read
    await org.ext.chat.markers.start_at({"m3"}, "group:g1", top - 1, before_join)
    assert (await c.ok("unread"))["unread"]["group:g1"] == 0
    assert await org.ext.chat.markers.get("m3", "group:g1") == top
