"""The op handlers without sockets: frames go in through ``Ops.on_frame`` as the
WebSocket transport hands them over, replies and pushes come out of the session's
transport. The node, broker, authorizer and token checks are the real ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from hub.core.node import Node
from hub.core.ops import REPLIED, Ops
from hub.core.session import Session, SessionState
from hub.protocol.errors import Close, Code
from hub.protocol.requests import Request
from tests.hub.core.engine import RecordingTransport, core_node, open_session
from tests.support.hubs import mint, wait_until


def _send(node: Node, s: Session, frame: dict[str, Any]) -> None:
    node.dispatcher.on_frame(s, orjson.dumps(frame))


async def _reply(t: RecordingTransport, rid: int) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((p for p in t.pushes() if p.get("id") == rid), None)

    got: dict[str, Any] = await wait_until(find, what=f"the reply to {rid}")
    return got


async def _connected(node: Node, member: str) -> tuple[Session, RecordingTransport]:
    s, t = open_session(node)
    _send(node, s, {"id": 1, "op": "connect", "token": mint(node.settings.token_secret, member)})
    reply = await _reply(t, 1)
    assert reply["ok"] is True, reply
    return s, t


async def test_node_dispatcher_is_the_ops_attached_by_the_composition_root(
    tmp_path: Path,
) -> None:
    async with core_node(tmp_path) as node:
        assert isinstance(node.dispatcher, Ops)


async def test_requests_before_connect_are_refused(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        s, t = open_session(node)
        _send(node, s, {"id": 3, "op": "ping"})
        reply = await _reply(t, 3)
        assert reply["error"]["code"] == Code.UNAUTHORIZED
        assert s.state == SessionState.CONNECTING


async def test_connect_subscribe_publish_and_the_message_push(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        alice, alice_t = await _connected(node, "alice")
        connect = alice_t.pushes()[0]
        assert connect["member"] == "alice" and connect["client"] == alice.id
        assert "member:alice" in connect["subs"]
        bob, bob_t = await _connected(node, "bob")
        _send(node, bob, {"id": 2, "op": "subscribe", "channel": "room:a"})
        sub = await _reply(bob_t, 2)
        assert sub["ok"] and sub["channel"] == "room:a" and sub["offset"] == 0
        _send(node, alice, {"id": 2, "op": "publish", "channel": "room:a", "data": {"x": 1}})
        pub = await _reply(alice_t, 2)
        assert pub["ok"] and pub["offset"] == 1

        def message() -> dict[str, Any] | None:
            return next((p for p in bob_t.pushes() if p.get("push") == "message"), None)

        msg = await wait_until(message, what="bob's message push")
        assert msg["channel"] == "room:a" and msg["data"] == {"x": 1} and msg["from"] == "alice"
        _send(node, bob, {"id": 3, "op": "unsubscribe", "channel": "room:a"})
        assert (await _reply(bob_t, 3))["ok"]
        _send(node, bob, {"id": 4, "op": "unsubscribe", "channel": "room:a"})
        assert (await _reply(bob_t, 4))["error"]["code"] == Code.NOT_SUBSCRIBED


async def test_a_bad_token_closes_the_session(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        s, t = open_session(node)
        _send(node, s, {"id": 1, "op": "connect", "token": mint("another-secret-" * 3, "eve")})
        assert (await _reply(t, 1))["error"]["code"] == Code.UNAUTHORIZED
        assert t.closed and s.state == SessionState.CLOSING
        assert t.pushes()[-1]["code"] == Close.UNAUTHORIZED


async def test_malformed_and_unknown_frames_get_errors(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        s, t = await _connected(node, "alice")
        node.dispatcher.on_frame(s, b"{not json")
        _send(node, s, {"id": 5, "op": "no-such-op"})
        _send(node, s, {"op": "ping"})
        await wait_until(lambda: len(t.pushes()) >= 4, what="three errors")
        errors = t.pushes()[1:]
        assert errors[0]["push"] == "error" and errors[0]["code"] == Code.BAD_REQUEST
        assert errors[1]["id"] == 5 and errors[1]["error"]["code"] == Code.UNKNOWN_OP
        assert errors[2]["push"] == "error" and errors[2]["code"] == Code.BAD_REQUEST
        assert s.bad == 3 and s.state == SessionState.OPEN


async def test_a_registered_op_is_validated_and_answered_in_order(tmp_path: Path) -> None:
    async with core_node(tmp_path) as node:
        seen: list[int] = []

        async def echo(session: Session, req: Request) -> object:
            seen.append(req.id)
            if req.args["value"] == "self":
                session.reply(req.id, {"by": "handler"})
                return REPLIED
            return {"value": req.args["value"]}

        node.dispatcher.register("echo", lambda f: {"value": f.get("value")}, echo)
        assert node.dispatcher.handler("echo") is echo
        s, t = await _connected(node, "alice")
        for rid, value in ((2, "a"), (3, "self"), (4, "c")):
            _send(node, s, {"id": rid, "op": "echo", "value": value})
        assert (await _reply(t, 4))["value"] == "c"
        assert seen == [2, 3, 4]
        replies = [p for p in t.pushes() if p.get("id") in (2, 3, 4)]
        assert replies == [
            {"id": 2, "ok": True, "value": "a"},
            {"id": 3, "ok": True, "by": "handler"},
            {"id": 4, "ok": True, "value": "c"},
        ]
