"""The ``receipt`` op (PROTOCOL.md §2) and the connect hook's ``unsigned`` field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.notices.service import Notices
from channels.notices.states import ReceiptState
from hub.core.session import Session
from hub.protocol.errors import Code, HubError
from hub.protocol.requests import Request, opt_str, req_str

__all__ = ["install_ops"]


def _v_receipt(f: Mapping[str, Any]) -> dict[str, Any]:
    state = f.get("state")
    if state not in ("delivered", "read", "acked"):
        raise HubError(Code.BAD_REQUEST, "'state' must be delivered, read or acked")
    return {
        "notice": req_str(f, "notice", 128),
        "state": state,
        "device": opt_str(f, "device", 128),
    }


def install_ops(notices: Notices) -> None:
    node = notices.node

    async def receipt(client: Session, req: Request) -> dict[str, Any]:
        member = client.member
        assert member is not None
        args = req.args
        detail = {"device": args["device"]} if args["device"] else {}
        change = await notices.set_state(args["notice"], member, args["state"], "app", detail)
        return {"notice": args["notice"], "state": ReceiptState.of_rank(change.result).value}

    async def on_connect(client: Session) -> dict[str, Any] | None:
        member = client.member
        if member is None:
            return None
        return {"unsigned": await notices.unsigned(member)}

    node.dispatcher.register("receipt", _v_receipt, receipt)
    node.connect_hooks.append(on_connect)
