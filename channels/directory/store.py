"""The directory's SQL, on the engine's portable :class:`Database` seam.

Every function takes the database (or a transaction of it) as its first
argument, so the service composes them inside one transaction. Subtrees and
ancestor chains are ``WITH RECURSIVE`` queries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from channels.directory.model import Group, Member, Unit
from hub.core.interfaces import Database, Row

__all__ = [
    "SUBTREE",
    "ancestors",
    "delete_group",
    "delete_member",
    "delete_unit",
    "get_group",
    "get_member",
    "get_unit",
    "group_members",
    "groups_of",
    "in_group",
    "list_groups",
    "list_members",
    "list_units",
    "lock_tree",
    "members_by_id",
    "members_with_role",
    "put_group",
    "put_member",
    "put_members",
    "put_unit",
    "put_units",
    "remove_group_member",
    "remove_group_members",
    "set_group_member",
    "set_group_members",
    "subtree",
    "unit_usage",
]

_CHUNK: Final = 500  # ids per IN (...) list
_MEMBER_COLS: Final = "id, name, unit, roles, flowing, home_unit, location, phone, wechat, wecom"
# The one subtree CTE (prefix of a query; its argument is the root). UNION, not UNION
# ALL: each unit is in ``sub`` once, so a cycle in the tree ends the walk instead of
# running it forever, and no depth bound is needed (an import accepts any depth).
SUBTREE: Final = (
    "WITH RECURSIVE sub (id) AS (SELECT id FROM dir_units WHERE id = ? "
    "UNION SELECT u.id FROM dir_units u JOIN sub ON u.parent = sub.id) "
)
# Serialises the writers that change the tree's shape (create, move, import of units)
# on PostgreSQL, so two concurrent moves (A under B, B under A) cannot both pass the
# cycle check; SQLite runs one write transaction at a time anyway.
_TREE_LOCK: Final = 0x545A_0001


def _unit(r: Row) -> Unit:
    return Unit(r["id"], r["name"], r["parent"], r["kind"])


def _member(r: Row) -> Member:
    return Member(
        id=r["id"],
        name=r["name"],
        unit=r["unit"],
        roles=tuple(x for x in r["roles"].split(",") if x),
        flowing=bool(r["flowing"]),
        home_unit=r["home_unit"],
        location=r["location"],
        phone=r["phone"],
        wechat=r["wechat"],
        wecom=r["wecom"],
    )


def _like(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- units --------------------------------------------------------------------------
async def get_unit(db: Database, unit_id: str) -> Unit | None:
    r = await db.fetchrow("SELECT id, name, parent, kind FROM dir_units WHERE id = ?", unit_id)
    return None if r is None else _unit(r)


async def list_units(
    db: Database, *, parent: str | None = None, root: str | None = None, q: str | None = None
) -> list[Unit]:
    """Every unit, or the children of ``parent``, or the subtree of ``root``; ``q``
    filters by name."""
    sql, args = "", list[Any]()
    where: list[str] = []
    if root is not None:
        sql, args = SUBTREE, [root]
        where.append("id IN (SELECT id FROM sub)")
    if parent is not None:
        where.append("parent = ?")
        args.append(parent)
    if q:
        where.append("LOWER(name) LIKE ? ESCAPE '\\'")
        args.append(_like(q))
    sql += "SELECT id, name, parent, kind FROM dir_units"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = await db.fetch(sql + " ORDER BY id", *args)
    return [_unit(r) for r in rows]


async def subtree(db: Database, unit_id: str) -> list[str]:
    rows = await db.fetch(SUBTREE + "SELECT id FROM sub", unit_id)
    return [r["id"] for r in rows]


async def ancestors(db: Database, unit_id: str) -> list[str]:
    """``unit_id`` and its ancestors up to the root, nearest first. Cycle-safe without
    a depth bound: the CTE is a UNION (a unit on a cycle comes back as the same row,
    which ends the recursion) and the order is the walk of the parents in Python."""
    rows = await db.fetch(
        "WITH RECURSIVE up (id, parent) AS (SELECT id, parent FROM dir_units WHERE id = ? "
        "UNION SELECT u.id, u.parent FROM dir_units u JOIN up ON u.id = up.parent) "
        "SELECT id, parent FROM up",
        unit_id,
    )
    parent_of: dict[str, str | None] = {r["id"]: r["parent"] for r in rows}
    chain: list[str] = []
    seen: set[str] = set()
    node: str | None = unit_id
    while node is not None and node in parent_of and node not in seen:
        chain.append(node)
        seen.add(node)
        node = parent_of[node]
    return chain


async def lock_tree(tx: Database) -> None:
    """Take the tree's write lock for the rest of the transaction (PostgreSQL)."""
    if tx.dialect == "postgresql":
        await tx.fetchval("SELECT pg_advisory_xact_lock(?)", _TREE_LOCK)


async def put_unit(db: Database, unit: Unit, now: int) -> None:
    await db.execute(
        "INSERT INTO dir_units (id, name, parent, kind, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent = excluded.parent, "
        "kind = excluded.kind, updated_at = excluded.updated_at",
        unit.id,
        unit.name,
        unit.parent,
        unit.kind,
        now,
    )


async def put_units(db: Database, units: Sequence[Unit], now: int) -> None:
    """Upsert many units in one round trip (in the order given: parents first)."""
    if not units:
        return
    await db.executemany(
        "INSERT INTO dir_units (id, name, parent, kind, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent = excluded.parent, "
        "kind = excluded.kind, updated_at = excluded.updated_at",
        [(u.id, u.name, u.parent, u.kind, now) for u in units],
    )


async def unit_usage(db: Database, unit_id: str) -> tuple[int, int, int]:
    """How many sub-units, members (or flowing members from it) and groups use it."""
    children = await db.fetchval("SELECT COUNT(*) FROM dir_units WHERE parent = ?", unit_id)
    members = await db.fetchval(
        "SELECT COUNT(*) FROM dir_members WHERE unit = ? OR home_unit = ?", unit_id, unit_id
    )
    groups = await db.fetchval("SELECT COUNT(*) FROM dir_groups WHERE unit = ?", unit_id)
    return int(children), int(members), int(groups)


async def delete_unit(db: Database, unit_id: str) -> bool:
    return await db.execute("DELETE FROM dir_units WHERE id = ?", unit_id) > 0


# -- members ------------------------------------------------------------------------
async def get_member(db: Database, member_id: str) -> Member | None:
    r = await db.fetchrow(f"SELECT {_MEMBER_COLS} FROM dir_members WHERE id = ?", member_id)
    return None if r is None else _member(r)


async def list_members(
    db: Database,
    *,
    unit: str | None = None,
    recursive: bool = False,
    q: str | None = None,
    role: str | None = None,
    flowing: bool | None = None,
    ids: Sequence[str] | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[Member]:
    """Members filtered by unit (with its sub-units when ``recursive``; a flowing
    member counts in their home unit too), name/id/location text, role, flowing."""
    sql, args = "", list[Any]()
    where: list[str] = []
    if unit is not None:
        if recursive:
            sql, args = SUBTREE, [unit]
            where.append("(unit IN (SELECT id FROM sub) OR home_unit IN (SELECT id FROM sub))")
        else:
            where.append("(unit = ? OR home_unit = ?)")
            args += [unit, unit]
    if q:
        where.append(
            "(LOWER(name) LIKE ? ESCAPE '\\' OR LOWER(id) LIKE ? ESCAPE '\\' "
            "OR LOWER(COALESCE(location, '')) LIKE ? ESCAPE '\\')"
        )
        args += [_like(q)] * 3
    if role is not None:
        where.append("(',' || roles || ',') LIKE ?")
        args.append(f"%,{role},%")
    if flowing is not None:
        where.append("flowing = ?")
        args.append(1 if flowing else 0)
    if ids is not None:
        if not ids:
            return []
        where.append("id IN (" + ", ".join("?" * len(ids)) + ")")
        args += list(ids)
    sql += f"SELECT {_MEMBER_COLS} FROM dir_members"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id LIMIT ? OFFSET ?"
    rows = await db.fetch(sql, *args, limit, offset)
    return [_member(r) for r in rows]


async def members_with_role(db: Database, role: str) -> list[str]:
    rows = await db.fetch(
        "SELECT id FROM dir_members WHERE (',' || roles || ',') LIKE ?", f"%,{role},%"
    )
    return [r["id"] for r in rows]


_PUT_MEMBER: Final = (
    f"INSERT INTO dir_members ({_MEMBER_COLS}, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, unit = excluded.unit, "
    "roles = excluded.roles, flowing = excluded.flowing, home_unit = excluded.home_unit, "
    "location = excluded.location, phone = excluded.phone, wechat = excluded.wechat, "
    "wecom = excluded.wecom, updated_at = excluded.updated_at"
)


def _member_args(m: Member, now: int) -> tuple[Any, ...]:
    return (
        m.id,
        m.name,
        m.unit,
        ",".join(m.roles),
        1 if m.flowing else 0,
        m.home_unit,
        m.location,
        m.phone,
        m.wechat,
        m.wecom,
        now,
    )


async def put_member(db: Database, m: Member, now: int) -> None:
    await db.execute(_PUT_MEMBER, *_member_args(m, now))


async def put_members(db: Database, members: Sequence[Member], now: int) -> None:
    """Upsert many members in one round trip."""
    if members:
        await db.executemany(_PUT_MEMBER, [_member_args(m, now) for m in members])


async def delete_member(db: Database, member_id: str) -> bool:
    return await db.execute("DELETE FROM dir_members WHERE id = ?", member_id) > 0


# -- groups -------------------------------------------------------------------------
async def group_members(db: Database, group_id: str) -> list[tuple[str, bool]]:
    rows = await db.fetch(
        "SELECT member, owner FROM dir_group_members WHERE group_id = ? ORDER BY member",
        group_id,
    )
    return [(r["member"], bool(r["owner"])) for r in rows]


async def in_group(db: Database, group_id: str, member: str) -> bool:
    """Whether ``member`` is in the group (one row, not the group's list)."""
    row = await db.fetchrow(
        "SELECT 1 FROM dir_group_members WHERE group_id = ? AND member = ?", group_id, member
    )
    return row is not None


async def get_group(db: Database, group_id: str) -> Group | None:
    r = await db.fetchrow("SELECT id, name, unit FROM dir_groups WHERE id = ?", group_id)
    if r is None:
        return None
    pairs = await group_members(db, group_id)
    return Group(
        r["id"],
        r["name"],
        r["unit"],
        owners=[m for m, owner in pairs if owner],
        members=[m for m, _ in pairs],
    )


async def list_groups(
    db: Database, *, member: str | None = None, ids: Sequence[str] | None = None
) -> list[Group]:
    """Groups (all, those of ``member``, or those of ``ids``) with their members: two
    queries, not two per group."""
    args: list[Any] = []
    where: list[str] = []
    if member is not None:
        where.append("id IN (SELECT group_id FROM dir_group_members WHERE member = ?)")
        args.append(member)
    if ids is not None:
        if not ids:
            return []
        where.append("id IN (" + ", ".join("?" * len(ids)) + ")")
        args += list(ids)
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    groups = {
        r["id"]: Group(r["id"], r["name"], r["unit"])
        for r in await db.fetch(f"SELECT id, name, unit FROM dir_groups{cond} ORDER BY id", *args)
    }
    if not groups:
        return []
    rows = await db.fetch(
        "SELECT group_id, member, owner FROM dir_group_members WHERE group_id IN "
        f"(SELECT id FROM dir_groups{cond}) ORDER BY group_id, member",
        *args,
    )
    for r in rows:
        g = groups[r["group_id"]]
        g.members.append(r["member"])
        if r["owner"]:
            g.owners.append(r["member"])
    return list(groups.values())


async def members_by_id(db: Database, ids: Sequence[str]) -> dict[str, Member]:
    """The members among ``ids``, by id (one query per 500 ids): what an import
    compares its rows with, and which of a list of ids exist."""
    found: dict[str, Member] = {}
    unique = sorted(set(ids))
    for i in range(0, len(unique), _CHUNK):
        chunk = unique[i : i + _CHUNK]
        for m in await list_members(db, ids=chunk, limit=len(chunk)):
            found[m.id] = m
    return found


async def groups_of(db: Database, member: str) -> list[str]:
    rows = await db.fetch(
        "SELECT group_id FROM dir_group_members WHERE member = ? ORDER BY group_id", member
    )
    return [r["group_id"] for r in rows]


async def put_group(db: Database, group: Group, now: int) -> None:
    await db.execute(
        "INSERT INTO dir_groups (id, name, unit, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, unit = excluded.unit, "
        "updated_at = excluded.updated_at",
        group.id,
        group.name,
        group.unit,
        now,
    )


_SET_GROUP_MEMBER: Final = (
    "INSERT INTO dir_group_members (group_id, member, owner) VALUES (?, ?, ?) "
    "ON CONFLICT (group_id, member) DO UPDATE SET owner = excluded.owner"
)


async def set_group_member(db: Database, group_id: str, member: str, owner: bool) -> None:
    await db.execute(_SET_GROUP_MEMBER, group_id, member, 1 if owner else 0)


async def set_group_members(db: Database, group_id: str, members: Mapping[str, bool]) -> None:
    """Add or update many memberships (member → owner) in one round trip."""
    if members:
        await db.executemany(
            _SET_GROUP_MEMBER, [(group_id, m, 1 if o else 0) for m, o in sorted(members.items())]
        )


async def remove_group_members(db: Database, group_id: str, members: Sequence[str]) -> None:
    if members:
        await db.executemany(
            "DELETE FROM dir_group_members WHERE group_id = ? AND member = ?",
            [(group_id, m) for m in sorted(members)],
        )


async def remove_group_member(db: Database, group_id: str, member: str) -> bool:
    n = await db.execute(
        "DELETE FROM dir_group_members WHERE group_id = ? AND member = ?", group_id, member
    )
    return n > 0


async def delete_group(db: Database, group_id: str) -> bool:
    await db.execute("DELETE FROM dir_group_members WHERE group_id = ?", group_id)
    return await db.execute("DELETE FROM dir_groups WHERE id = ?", group_id) > 0
