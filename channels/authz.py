"""The namespaces of PROTOCOL.md §4 that the domain decides, and the cut of live
subscriptions when the directory withdraws a permission.

* ``group:G`` — subscribe and publish: the members of group G.
* ``unit:U`` — subscribe: members of U or of a sub-unit of U (a flowing member
  also counts in their home unit). Publish: the server API, admin tokens, and
  members with role ``admin`` or ``staff`` whose unit is U or an ancestor of U.
* ``notice:N`` — subscribe: admin tokens and ``notice_watchers(N)``; publish:
  nobody (the hub publishes the receipts).

An *admin token* is a connection token whose claims have ``"role": "admin"``
(or ``"roles"`` containing ``"admin"``); the same token opens the directory API.
``member:`` and token ``channels`` grants are the engine's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from channels.chat.messages import validate_group_message
from channels.directory.service import Directory
from hub.auth import Identity
from hub.core.authz import Authorizer
from hub.core.node import Node
from hub.protocol.errors import Close, HubError
from hub.protocol.names import namespace_of

__all__ = [
    "GroupPolicy",
    "NoticePolicy",
    "NoticeWatchers",
    "UnitPolicy",
    "cluster_remover",
    "cluster_revoker",
    "is_admin",
    "register_policies",
    "revoker",
]

log = logging.getLogger("channels.authz")

NoticeWatchers = Callable[[str], Awaitable[set[str]]]

REASONS: Final = {
    "group": "已被移出该群组",
    "unit": "已不属于该单位或其上级单位",
    "notice": "已无权查看该通知的回执",
}


def is_admin(claims: Mapping[str, Any]) -> bool:
    """Whether token claims make their holder an organization-wide administrator."""
    roles = claims.get("roles")
    return claims.get("role") == "admin" or (isinstance(roles, list) and "admin" in roles)


class GroupPolicy:
    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    async def can_subscribe(self, identity: Identity, channel: str, name: str) -> bool:
        acc = await self.directory.access(identity.member)
        return acc is not None and name in acc.groups

    async def can_publish(self, identity: Identity, channel: str, name: str) -> bool:
        return await self.can_subscribe(identity, channel, name)

    def validate_data(self, identity: Identity, channel: str, name: str, data: Any) -> None:
        validate_group_message(data)


class UnitPolicy:
    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    async def can_subscribe(self, identity: Identity, channel: str, name: str) -> bool:
        acc = await self.directory.access(identity.member)
        return acc is not None and name in acc.units

    async def can_publish(self, identity: Identity, channel: str, name: str) -> bool:
        if is_admin(identity.claims):
            return True
        acc = await self.directory.access(identity.member)
        if acc is None or not acc.unit_admin:
            return False
        return acc.unit in await self.directory.ancestors(name)


class NoticePolicy:
    """``watchers(notice_id)``: who may watch a notice's receipts besides admin
    tokens. Until notices exist it answers the directory's admins; the notices
    layer replaces it with one that adds the notice's sender."""

    def __init__(self, watchers: NoticeWatchers) -> None:
        self.watchers = watchers

    async def can_subscribe(self, identity: Identity, channel: str, name: str) -> bool:
        if is_admin(identity.claims):
            return True
        return identity.member in await self.watchers(name)

    async def can_publish(self, identity: Identity, channel: str, name: str) -> bool:
        return False


def register_policies(
    authorizer: Authorizer, directory: Directory, watchers: NoticeWatchers
) -> NoticePolicy:
    authorizer.register("group", GroupPolicy(directory))
    authorizer.register("unit", UnitPolicy(directory))
    notice = NoticePolicy(watchers)
    authorizer.register("notice", notice)
    return notice


def revoker(node: Node) -> Callable[[set[str] | None], Awaitable[None]]:
    """A directory change listener: re-check the live subscriptions of the members
    concerned (``None``: every member connected here) and revoke what is no longer
    allowed, on every connection of that member."""

    async def recheck(members: set[str] | None) -> None:
        if members is None:
            targets = sorted({c.member for c in node.clients.values() if c.member is not None})
        else:
            targets = sorted(members)
        for member in targets:
            denied: set[str] = set()
            for client in node.connections_of(member):
                identity = client.identity
                if identity is None:
                    continue
                for channel in list(client.subs):
                    if channel in denied or namespace_of(channel) not in REASONS:
                        continue
                    try:
                        await node.authorizer.check_subscribe(identity, channel)
                    except HubError:
                        denied.add(channel)
            for channel in sorted(denied):
                n = node.revoke(member, channel, REASONS[namespace_of(channel)])
                log.info("revoked %s from member %s on %d connection(s)", channel, member, n)

    return recheck


DIRECTORY_CHANGED = "directory.changed"


def cluster_revoker(
    node: Node, directory: Directory
) -> Callable[[set[str] | None], Awaitable[None]]:
    """A directory change listener for a hub of several processes: the process where
    the change was made tells every process (itself included, through the broker);
    each drops its permission cache and re-checks its own live subscriptions."""
    recheck = revoker(node)

    async def on_event(payload: dict[str, Any]) -> None:
        if payload.get("origin") != node.instance:  # not the (configurable) node name
            directory.forget_cache()
        members = payload.get("members")
        await recheck(None if members is None else set(members))

    node.on_event(DIRECTORY_CHANGED, on_event)

    async def changed(members: set[str] | None) -> None:
        payload = {"members": None if members is None else sorted(members), "origin": node.instance}
        await node.emit(DIRECTORY_CHANGED, payload)

    return changed


MEMBER_REMOVED = "member.removed"
REMOVED_REASON = "该成员已从组织名录中删除"


def cluster_remover(node: Node) -> Callable[[str], Awaitable[None]]:
    """A member deleted from the directory is disconnected on every process with 4003
    (forbidden: do not reconnect); its tokens may still be valid, its access is not."""

    def on_event(payload: dict[str, Any]) -> None:
        member = payload.get("member")
        if not isinstance(member, str):
            return
        for client in node.connections_of(member):
            client.disconnect(Close.FORBIDDEN, REMOVED_REASON, False)

    node.on_event(MEMBER_REMOVED, on_event)

    async def removed(member: str) -> None:
        await node.emit(MEMBER_REMOVED, {"member": member})

    return removed
