"""Resolve an audience to recipients ``(member, unit)`` from the directory's tables.

Each recipient comes with the unit it belongs to and, for a flowing member whose
home unit (组织关系所在支部) is another one, that home unit: both are saved on the
receipt at send time, so the roll-up of an old notice never changes when the
directory does.

Units (with their sub-units unless ``subunits`` is false; a flowing member counts
in their home unit too), groups and listed members are added together; ``roles``
and ``flowing`` narrow the unit selection (alone they select from everyone).
"""

from __future__ import annotations

from channels.directory import store
from channels.notices.model import Audience, bad
from hub.core.interfaces import Database

__all__ = ["Recipient", "resolve"]


Recipient = tuple[str, str, str | None]  # (member, unit, home unit when flowing elsewhere)


async def resolve(db: Database, aud: Audience) -> list[Recipient]:
    units: set[str] = set()
    for unit in aud.units:
        if await store.get_unit(db, unit) is None:
            raise bad(f"单位“{unit}”不存在")
        units.update(await store.subtree(db, unit) if aud.subunits else [unit])
    rows = await db.fetch("SELECT id, unit, roles, flowing, home_unit FROM dir_members")
    unit_of = {r["id"]: str(r["unit"]) for r in rows}
    home_of = {
        r["id"]: str(r["home_unit"])
        for r in rows
        if r["flowing"] and r["home_unit"] is not None and r["home_unit"] != r["unit"]
    }
    chosen: dict[str, str] = {}
    roles = set(aud.roles)
    selective = bool(aud.units or roles or (aud.flowing and not (aud.groups or aud.members)))
    if selective:
        for r in rows:
            if aud.units and r["unit"] not in units and r["home_unit"] not in units:
                continue
            if roles and not roles.intersection(str(r["roles"]).split(",")):
                continue
            if aud.flowing and not r["flowing"]:
                continue
            chosen[r["id"]] = str(r["unit"])
    for group in aud.groups:
        if await store.get_group(db, group) is None:
            raise bad(f"群组“{group}”不存在")
        for member, _owner in await store.group_members(db, group):
            chosen[member] = unit_of[member]
    for member in aud.members:
        if member not in unit_of:
            raise bad(f"成员“{member}”不存在")
        chosen[member] = unit_of[member]
    return [(m, u, home_of.get(m)) for m, u in sorted(chosen.items())]
