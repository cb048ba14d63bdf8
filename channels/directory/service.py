"""The directory's operations: validation, transactions, the access cache the
authorizer reads, and change notices to whoever must cut live subscriptions.

Every write clears the cache before it returns and then calls the change
listeners with the members whose access may have changed (``None``: possibly
everyone, after a structural change of the units tree), so a permission that
was withdrawn is withdrawn at once on this node. With several nodes the other
nodes' caches expire after ``cache_ttl`` seconds (see docs/directory.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from channels.directory import store
from channels.directory.errors import Conflict, Invalid, NotFound
from channels.directory.model import (
    FieldError,
    Group,
    Member,
    Unit,
    parse_bool,
    parse_id,
    parse_kind,
    parse_name,
    parse_phone,
    parse_ref,
    parse_roles,
    parse_text,
)
from hub.core.interfaces import Database

__all__ = ["Access", "ChangeListener", "Directory", "JoinListener", "Joins"]

_CACHE_MAX = 50_000  # members whose permissions are cached at once

log = logging.getLogger("channels.directory")

ChangeListener = Callable[[set[str] | None], Awaitable[None]]
JoinListener = Callable[[str, set[str]], Awaitable[None]]  # (group, members who joined)
Joins = dict[str, set[str]]
_ADMIN_ROLES = frozenset({"admin", "staff"})


@dataclass(slots=True, frozen=True)
class Access:
    """What the authorizer needs to know about one member."""

    member: str
    unit: str
    units: frozenset[str]  # unit channels it may subscribe: its unit's and home unit's chains
    unit_admin: bool  # admin or party-affairs staff of its unit (and that unit's subtree)
    admin: bool  # role admin
    groups: frozenset[str]


def _now() -> int:
    return int(time.time() * 1000)


def _field(fn: Callable[[], Any], name: str) -> Any:
    try:
        return fn()
    except FieldError as exc:
        raise Invalid(exc.message, field=name, reason=exc.code) from None


class Directory:
    def __init__(self, database: Callable[[], Database], cache_ttl: float = 5.0) -> None:
        self._database = database
        self.cache_ttl = cache_ttl
        self.listeners: list[ChangeListener] = []
        self.removal_listeners: list[Callable[[str], Awaitable[None]]] = []
        self.join_listeners: list[JoinListener] = []
        self._gen = 0
        self._access: dict[str, tuple[float, Access | None]] = {}
        self._ancestors: dict[str, tuple[float, tuple[str, ...]]] = {}

    @property
    def db(self) -> Database:
        return self._database()

    # -- cache and change notices ----------------------------------------------------
    def forget_cache(self) -> None:
        """Drop cached permissions (another process changed the directory)."""
        self._gen += 1
        self._access.clear()
        self._ancestors.clear()

    async def changed(self, members: set[str] | None) -> None:
        self.forget_cache()
        for listener in self.listeners:
            try:
                await listener(members)
            except Exception:
                log.exception("directory change listener failed")

    async def joined(self, joins: Mapping[str, set[str]]) -> None:
        """After the commit: tell the join listeners who was added to which group.
        Called before :meth:`changed`: until the cache is cleared a connected member
        cannot subscribe the group yet, so their unread count is set to start at the
        join before they can read anything there (a read after the join is kept
        anyway: see ``ReadMarkers.start_at``)."""
        for group, members in joins.items():
            if not members:
                continue
            for listener in self.join_listeners:
                try:
                    await listener(group, members)
                except Exception:
                    log.exception("group join listener failed")

    async def access(self, member: str) -> Access | None:
        hit = self._access.get(member)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        gen = self._gen
        m = await store.get_member(self.db, member)
        acc: Access | None = None
        if m is not None:
            units = set(await self.ancestors(m.unit))
            if m.home_unit:
                units.update(await self.ancestors(m.home_unit))
            acc = Access(
                member=m.id,
                unit=m.unit,
                units=frozenset(units),
                unit_admin=bool(_ADMIN_ROLES.intersection(m.roles)),
                admin="admin" in m.roles,
                groups=frozenset(await store.groups_of(self.db, member)),
            )
        if gen == self._gen:
            if len(self._access) >= _CACHE_MAX:  # bounded: drop what expired, else all
                self._access = {k: v for k, v in self._access.items() if v[0] > now}
                if len(self._access) >= _CACHE_MAX:
                    self._access.clear()
            self._access[member] = (now + self.cache_ttl, acc)
        return acc

    async def ancestors(self, unit: str) -> tuple[str, ...]:
        hit = self._ancestors.get(unit)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        gen = self._gen
        chain = tuple(await store.ancestors(self.db, unit))
        if gen == self._gen:
            self._ancestors[unit] = (now + self.cache_ttl, chain)
        return chain

    async def admins(self) -> set[str]:
        return set(await store.members_with_role(self.db, "admin"))

    # -- units --------------------------------------------------------------------------
    async def unit(self, unit_id: str) -> Unit:
        u = await store.get_unit(self.db, unit_id)
        if u is None:
            raise NotFound(f"单位“{unit_id}”不存在")
        return u

    async def _check_parent(self, db: Database, unit_id: str, parent: str | None) -> None:
        if parent is None:
            return
        if await store.get_unit(db, parent) is None:
            raise Invalid(f"上级单位“{parent}”不存在", field="parent", reason="unknown_parent")
        if unit_id in await store.ancestors(db, parent):
            raise Conflict("不能把单位移到它自己的下级单位之下", field="parent", reason="cycle")

    async def create_unit(self, body: Mapping[str, Any]) -> Unit:
        unit = Unit(
            id=_field(lambda: parse_id(body.get("id")), "id"),
            name=_field(lambda: parse_name(body.get("name"), "名称"), "name"),
            parent=_field(lambda: parse_ref(body.get("parent"), "上级单位"), "parent"),
            kind=_field(lambda: parse_kind(body.get("kind")), "kind"),
        )
        async with self.db.transaction() as tx:
            await store.lock_tree(tx)
            if await store.get_unit(tx, unit.id) is not None:
                raise Conflict(f"单位编号“{unit.id}”已存在", field="id", reason="duplicate_id")
            await self._check_parent(tx, unit.id, unit.parent)
            await store.put_unit(tx, unit, _now())
        await self.changed(set())
        return unit

    async def update_unit(self, unit_id: str, body: Mapping[str, Any]) -> Unit:
        async with self.db.transaction() as tx:
            if "parent" in body:  # a move: checked for cycles under the tree's lock
                await store.lock_tree(tx)
            unit = await store.get_unit(tx, unit_id)
            if unit is None:
                raise NotFound(f"单位“{unit_id}”不存在")
            moved = "parent" in body and body["parent"] != unit.parent
            if "name" in body:
                unit.name = _field(lambda: parse_name(body["name"], "名称"), "name")
            if "kind" in body:
                unit.kind = _field(lambda: parse_kind(body["kind"]), "kind")
            if moved:
                unit.parent = _field(lambda: parse_ref(body["parent"], "上级单位"), "parent")
                await self._check_parent(tx, unit.id, unit.parent)
            await store.put_unit(tx, unit, _now())
        await self.changed(None if moved else set())
        return unit

    async def delete_unit(self, unit_id: str) -> None:
        async with self.db.transaction() as tx:
            if await store.get_unit(tx, unit_id) is None:
                raise NotFound(f"单位“{unit_id}”不存在")
            children, members, groups = await store.unit_usage(tx, unit_id)
            if children or members or groups:
                raise Conflict(
                    f"单位“{unit_id}”下还有 {children} 个下级单位、{members} 名成员、"
                    f"{groups} 个群组，不能删除",
                    reason="unit_not_empty",
                )
            await store.delete_unit(tx, unit_id)
        await self.changed(set())

    # -- members ------------------------------------------------------------------------
    async def member(self, member_id: str) -> Member:
        m = await store.get_member(self.db, member_id)
        if m is None:
            raise NotFound(f"成员“{member_id}”不存在")
        return m

    async def _check_unit(self, db: Database, unit: str | None, name: str) -> None:
        if unit is not None and await store.get_unit(db, unit) is None:
            raise Invalid(f"单位“{unit}”不存在", field=name, reason="unknown_unit")

    def _apply_member_fields(self, m: Member, body: Mapping[str, Any]) -> None:
        if "name" in body:
            m.name = _field(lambda: parse_name(body["name"]), "name")
        if "unit" in body:
            m.unit = _field(lambda: parse_id(body["unit"], "所属单位"), "unit")
        if "roles" in body:
            m.roles = _field(lambda: parse_roles(body["roles"]), "roles")
        if "flowing" in body:
            m.flowing = _field(lambda: parse_bool(body["flowing"], "流动党员"), "flowing")
        if "home_unit" in body:
            m.home_unit = _field(lambda: parse_ref(body["home_unit"], "流出单位"), "home_unit")
        if "location" in body:
            m.location = _field(lambda: parse_text(body["location"], "现居地"), "location")
        if "phone" in body:
            m.phone = _field(lambda: parse_phone(body["phone"]), "phone")
        if "wechat" in body:
            m.wechat = _field(lambda: parse_text(body["wechat"], "微信号", 64), "wechat")
        if "wecom" in body:
            m.wecom = _field(lambda: parse_text(body["wecom"], "企业微信账号", 64), "wecom")
        if not m.flowing:
            m.home_unit = None
        elif m.home_unit is None:
            m.home_unit = m.unit

    async def _save_member(self, db: Database, m: Member) -> None:
        await self._check_unit(db, m.unit, "unit")
        await self._check_unit(db, m.home_unit, "home_unit")
        await store.put_member(db, m, _now())

    async def create_member(self, body: Mapping[str, Any]) -> Member:
        m = Member(
            id=_field(lambda: parse_id(body.get("id")), "id"),
            name=_field(lambda: parse_name(body.get("name")), "name"),
            unit=_field(lambda: parse_id(body.get("unit"), "所属单位"), "unit"),
        )
        self._apply_member_fields(m, body)
        async with self.db.transaction() as tx:
            if await store.get_member(tx, m.id) is not None:
                raise Conflict(f"成员编号“{m.id}”已存在", field="id", reason="duplicate_id")
            await self._save_member(tx, m)
        log.info("member created: %s", m.masked())
        await self.changed({m.id})
        return m

    async def update_member(self, member_id: str, body: Mapping[str, Any]) -> Member:
        async with self.db.transaction() as tx:
            m = await store.get_member(tx, member_id)
            if m is None:
                raise NotFound(f"成员“{member_id}”不存在")
            self._apply_member_fields(m, body)
            await self._save_member(tx, m)
        await self.changed({member_id})
        return m

    async def move_member(self, member_id: str, unit: object) -> Member:
        return await self.update_member(member_id, {"unit": unit})

    async def set_flowing(self, member_id: str, body: Mapping[str, Any]) -> Member:
        """Mark a member flowing: the home unit stays theirs, ``unit`` (optional) is
        where they are attached now, ``location`` (现居地) where they live."""
        m = await self.member(member_id)
        patch: dict[str, Any] = {"flowing": True, "home_unit": m.home_unit or m.unit}
        for key in ("unit", "location", "home_unit"):
            if key in body:
                patch[key] = body[key]
        return await self.update_member(member_id, patch)

    async def clear_flowing(self, member_id: str) -> Member:
        """Back home: the member returns to the home unit; the location is cleared."""
        m = await self.member(member_id)
        home = m.home_unit or m.unit
        return await self.update_member(
            member_id, {"flowing": False, "unit": home, "location": None}
        )

    async def delete_member(self, member_id: str) -> None:
        if not await store.delete_member(self.db, member_id):
            raise NotFound(f"成员“{member_id}”不存在")
        await self.changed({member_id})
        for listener in self.removal_listeners:
            try:
                await listener(member_id)
            except Exception:
                log.exception("member removal listener failed")

    # -- groups -------------------------------------------------------------------------
    async def group(self, group_id: str) -> Group:
        g = await store.get_group(self.db, group_id)
        if g is None:
            raise NotFound(f"群组“{group_id}”不存在")
        return g

    def _member_list(self, body: Mapping[str, Any], key: str) -> list[str]:
        raw = body.get(key)
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise Invalid(f"“{key}”必须是成员编号的列表", field=key, reason="bad_value")
        out: list[str] = []
        for item in raw:
            out.append(_field(lambda item=item: parse_id(item, "成员编号"), key))  # type: ignore[misc]
        return out

    async def write_group(self, db: Database, g: Group, joins: Joins | None = None) -> set[str]:
        """Store ``g`` with exactly its members; returns the members whose access
        changed. The members new to the group are added to ``joins[g.id]``."""
        await self._check_unit(db, g.unit, "unit")
        known = await store.members_by_id(db, g.members)
        for mid in g.members:
            if mid not in known:
                raise Invalid(f"成员“{mid}”不存在", field="members", reason="unknown_member")
        before = dict(await store.group_members(db, g.id))
        await store.put_group(db, g, _now())
        owners = set(g.owners)
        await store.set_group_members(
            db, g.id, {m: m in owners for m in g.members if before.get(m) != (m in owners)}
        )
        gone = set(before) - set(g.members)
        await store.remove_group_members(db, g.id, sorted(gone))
        added = set(g.members) - set(before)
        if joins is not None and added:
            joins.setdefault(g.id, set()).update(added)
        return gone | added

    def _group_from(self, g: Group, body: Mapping[str, Any]) -> Group:
        if "name" in body:
            g.name = _field(lambda: parse_name(body["name"], "群组名称"), "name")
        if "unit" in body:
            g.unit = _field(lambda: parse_ref(body["unit"], "所属单位"), "unit")
        if "owners" in body:
            g.owners = self._member_list(body, "owners")
        if "members" in body:
            g.members = self._member_list(body, "members")
        g.members = sorted(set(g.members) | set(g.owners))
        return g

    async def create_group(self, body: Mapping[str, Any]) -> Group:
        g = Group(
            id=_field(lambda: parse_id(body.get("id")), "id"),
            name=_field(lambda: parse_name(body.get("name"), "群组名称"), "name"),
        )
        self._group_from(g, body)
        async with self.db.transaction() as tx:
            if await store.get_group(tx, g.id) is not None:
                raise Conflict(f"群组编号“{g.id}”已存在", field="id", reason="duplicate_id")
            joins: Joins = {}
            touched = await self.write_group(tx, g, joins)
        await self.joined(joins)  # first: see joined()
        await self.changed(touched)
        return g

    async def update_group(self, group_id: str, body: Mapping[str, Any]) -> Group:
        async with self.db.transaction() as tx:
            g = await store.get_group(tx, group_id)
            if g is None:
                raise NotFound(f"群组“{group_id}”不存在")
            self._group_from(g, body)
            joins: Joins = {}
            touched = await self.write_group(tx, g, joins)
        await self.joined(joins)  # first: see joined()
        await self.changed(touched)
        return g

    async def delete_group(self, group_id: str) -> None:
        async with self.db.transaction() as tx:
            g = await store.get_group(tx, group_id)
            if g is None:
                raise NotFound(f"群组“{group_id}”不存在")
            await store.delete_group(tx, group_id)
        await self.changed(set(g.members))

    async def add_to_group(self, group_id: str, member_id: str, owner: bool) -> Group:
        async with self.db.transaction() as tx:
            if await store.get_group(tx, group_id) is None:
                raise NotFound(f"群组“{group_id}”不存在")
            if await store.get_member(tx, member_id) is None:
                raise NotFound(f"成员“{member_id}”不存在")
            already = await store.in_group(tx, group_id, member_id)
            await store.set_group_member(tx, group_id, member_id, owner)
        if not already:
            await self.joined({group_id: {member_id}})  # first: see joined()
        await self.changed({member_id})
        return await self.group(group_id)

    async def remove_from_group(self, group_id: str, member_id: str) -> Group:
        async with self.db.transaction() as tx:
            if await store.get_group(tx, group_id) is None:
                raise NotFound(f"群组“{group_id}”不存在")
            if not await store.remove_group_member(tx, group_id, member_id):
                raise NotFound(f"成员“{member_id}”不在群组“{group_id}”中")
        await self.changed({member_id})
        return await self.group(group_id)
