"""CSV import: every row validated against the file and the directory, then
all rows written in one transaction, or none when any row is wrong.

Re-importing a file changes nothing: rows are upserts keyed by id, compared
with what is stored, and counted as created, updated or unchanged. A column the
file does not have keeps the stored value; an empty cell clears it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from channels.directory import store
from channels.directory.csvio import COLUMNS, CsvError, Table, read_table
from channels.directory.model import (
    FieldError,
    Group,
    Member,
    Unit,
    normalize_id,
    parse_bool,
    parse_id,
    parse_kind,
    parse_name,
    parse_phone,
    parse_roles,
    parse_text,
)
from channels.directory.service import Directory, Joins
from hub.core.interfaces import Database

__all__ = ["ImportResult", "RowError", "run_import"]

log = logging.getLogger("channels.directory.import")

_REQUIRED: Final = {"members": ("id", "name"), "units": ("id", "name"), "groups": ("id", "name")}
_LIST_SPLIT: Final = re.compile(r"[,，、;；|\s]+")
_CHUNK: Final = 500
_YIELD: Final = 500  # rows between two turns of the event loop


@dataclass(slots=True)
class RowError:
    row: int
    column: str | None
    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


@dataclass(slots=True)
class ImportResult:
    kind: str
    encoding: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def message(self) -> str:
        if self.errors:
            return f"导入失败：共 {len(self.errors)} 处错误，未导入任何数据"
        if not self.changed:
            return f"文件中的 {self.rows} 行与现有数据一致，没有任何变化"
        return f"导入成功：新增 {self.created} 条，更新 {self.updated} 条，未变 {self.unchanged} 条"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "encoding": self.encoding,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "changed": self.changed,
            "message": self.message(),
            "errors": [e.to_json() for e in self.errors],
            "ignored_columns": self.ignored_columns,
        }


class _Rows:
    """Collects the errors of one file; ``cell`` parses a cell or records why not."""

    def __init__(self, table: Table, result: ImportResult) -> None:
        self.table = table
        self.result = result
        self.row = 0
        self.bad = False
        self.seen: dict[str, int] = {}  # id -> first row

    def has(self, name: str) -> bool:
        return name in self.table.columns

    def error(self, name: str | None, code: str, message: str) -> None:
        column = None if name is None else self.table.columns.get(name, name)
        self.result.errors.append(RowError(self.row, column, code, message))
        self.bad = True

    def unique_id(self, value: str | None) -> None:
        """Record the row's id; an id already on an earlier row is an error."""
        if value is None:
            return
        first = self.seen.setdefault(value, self.row)
        if first != self.row:
            self.error("id", "duplicate_id", f"编号“{value}”与第 {first} 行重复")

    def cell(self, cells: Mapping[str, str], name: str, parse: Callable[[str], Any]) -> Any:
        try:
            return parse(cells.get(name, ""))
        except FieldError as exc:
            self.error(name, exc.code, exc.message)
            return None


class _Units:
    """Resolves a unit cell (an id, or a unit name that is unique) to a unit id."""

    def __init__(self, units: Sequence[Unit]) -> None:
        self.ids = {u.id for u in units}
        self.by_name: dict[str, set[str]] = {}
        for u in units:
            self.by_name.setdefault(u.name, set()).add(u.id)

    def add(self, unit_id: str, name: str) -> None:
        self.ids.add(unit_id)
        self.by_name.setdefault(name, set()).add(unit_id)

    def resolve(self, value: str, what: str) -> str | None:
        value = value.strip()
        if not value:
            return None
        unit_id = normalize_id(value)  # ｂ１ typed with an IME is b1
        if unit_id in self.ids:
            return unit_id
        found = self.by_name.get(value, set())
        if len(found) == 1:
            return next(iter(found))
        if found:
            raise FieldError(
                "ambiguous_unit",
                f"{what}“{value}”有重名单位（{'、'.join(sorted(found))}），请填写单位编号",
            )
        raise FieldError("unknown_unit", f"{what}“{value}”不存在")


@dataclass(slots=True)
class _Parsed:
    """One row after its cells were parsed (before it is compared with the directory):
    ``values`` holds the parsed cells of the columns the file has."""

    number: int
    cells: Mapping[str, str]
    values: dict[str, Any]
    bad: bool


def _split(value: str) -> list[str]:
    return [x for x in _LIST_SPLIT.split(value.strip()) if x]


def _member_ids(value: str, what: str) -> list[str]:
    """A list cell of member ids, each one normalised and checked like any id."""
    return [parse_id(item, what) for item in _split(value)]


async def _turn(i: int) -> None:
    """Every ``_YIELD`` rows a turn of the event loop: a long file must not hold it
    (other clients' frames go out meanwhile)."""
    if i % _YIELD == _YIELD - 1:
        await asyncio.sleep(0)


async def run_import(directory: Directory, kind: str, raw: bytes) -> ImportResult:
    """Validate and (when every row is right) apply; the result carries the row errors.

    The cells are parsed first, outside any transaction (on SQLite a transaction
    holds the store for everyone); the comparison with the directory and the writes
    then run in one transaction."""
    result = ImportResult(kind)
    try:
        table = read_table(raw, kind)
    except CsvError as exc:
        result.errors.append(RowError(1, None, exc.code, exc.message))
        return result
    result.encoding, result.rows = table.encoding, len(table.rows)
    result.ignored_columns = table.ignored
    rows = _Rows(table, result)
    for name in _REQUIRED[kind]:
        if not rows.has(name):
            aliases = "、".join(sorted(a for a in COLUMNS[kind][name] if not a.isascii()))
            rows.row = 1
            rows.error(None, "missing_column", f"缺少“{aliases}”列（或英文 {name}）")
    if result.errors:
        return result
    parsed = await _PARSERS[kind](rows)
    affected: set[str] | None
    joins: Joins = {}
    if result.errors:  # nothing will be written: compare for the other errors, no lock
        await _APPLY[kind](directory.db, directory, rows, parsed, joins)
        result.errors.sort(key=lambda e: e.row)
        return result
    async with directory.db.transaction() as tx:
        affected = await _APPLY[kind](tx, directory, rows, parsed, joins)
    result.errors.sort(key=lambda e: e.row)
    if result.changed:
        log.info(
            "import of %s: %d created, %d updated, %d unchanged",
            kind,
            result.created,
            result.updated,
            result.unchanged,
        )
        await directory.joined(joins)  # before the change notices: see Directory.joined
        await directory.changed(affected)
    return result


def _count(result: ImportResult, before: object, after: object) -> bool:
    """Count a row; True when it must be written."""
    if before is None:
        result.created += 1
        return True
    if before == after:
        result.unchanged += 1
        return False
    result.updated += 1
    return True


# -- members --------------------------------------------------------------------------
_MEMBER_CELLS: Final[dict[str, Callable[[str], Any]]] = {
    "roles": parse_roles,
    "flowing": lambda v: parse_bool(v, "流动党员"),
    "location": lambda v: parse_text(v, "现居地"),
    "phone": parse_phone,
    "wechat": lambda v: parse_text(v, "微信号", 64),
    "wecom": lambda v: parse_text(v, "企业微信", 64),
}


async def _parse_members(rows: _Rows) -> list[_Parsed]:
    out: list[_Parsed] = []
    for i, (number, cells) in enumerate(rows.table.rows):
        await _turn(i)
        rows.row, rows.bad = number, False
        values: dict[str, Any] = {
            "id": rows.cell(cells, "id", parse_id),
            "name": rows.cell(cells, "name", parse_name),
        }
        rows.unique_id(values["id"])
        for col, parse in _MEMBER_CELLS.items():
            if rows.has(col):
                values[col] = rows.cell(cells, col, parse)
        out.append(_Parsed(number, cells, values, rows.bad))
    return out


async def _members(
    db: Database, directory: Directory, rows: _Rows, parsed: Sequence[_Parsed], joins: Joins
) -> set[str] | None:
    units = _Units(await store.list_units(db))
    result = rows.result
    existing = await store.members_by_id(db, [p.values["id"] for p in parsed if p.values["id"]])
    plan: list[tuple[Member | None, Member]] = []
    for i, p in enumerate(parsed):
        await _turn(i)
        rows.row, rows.bad = p.number, p.bad
        v, cells = p.values, p.cells
        mid, name = v["id"], v["name"]
        before = existing.get(mid) if mid else None
        m = replace(before) if before else Member(id=mid or "", name=name or "", unit="")
        m.name = name or m.name
        if rows.has("unit"):
            unit = rows.cell(cells, "unit", lambda c: units.resolve(c, "所属单位"))
            if unit is None and not cells.get("unit", "").strip():
                rows.error("unit", "missing_unit", "缺少所属单位")
            m.unit = unit or m.unit
        elif before is None:
            rows.error(None, "missing_unit", "新成员缺少所属单位（文件没有“所属支部/单位”列）")
        if "roles" in v:
            m.roles = v["roles"] or m.roles
        if "flowing" in v:
            m.flowing = bool(v["flowing"])
        if rows.has("home_unit"):
            m.home_unit = rows.cell(cells, "home_unit", lambda c: units.resolve(c, "流出支部"))
        for col in ("location", "phone", "wechat", "wecom"):
            if col in v:
                setattr(m, col, v[col])
        if not m.flowing:
            m.home_unit = None
        elif m.home_unit is None:
            m.home_unit = m.unit
        plan.append((before, m))
    if result.errors:
        return set()
    now = store_now()
    batch = [m for before, m in plan if _count(result, before, m)]
    for i in range(0, len(batch), _CHUNK):  # one round trip per chunk, not per row
        await store.put_members(db, batch[i : i + _CHUNK], now)
    return {m.id for m in batch}


def _on_cycles(parents: Mapping[str, str | None], starts: Sequence[str]) -> set[str]:
    """The ``starts`` whose chain of parents runs into a cycle. Linear: every unit is
    walked once, its answer remembered (the parents map gives each unit one parent)."""
    verdict: dict[str, bool] = {}
    for start in starts:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        found = False
        while node is not None and node in parents:
            known = verdict.get(node)
            if known is not None:
                found = known
                break
            if node in on_path:
                found = True
                break
            path.append(node)
            on_path.add(node)
            node = parents[node]
        for unit in path:
            verdict[unit] = found
    return {u for u in starts if verdict.get(u)}


async def _parse_units(rows: _Rows) -> list[_Parsed]:
    out: list[_Parsed] = []
    for i, (number, cells) in enumerate(rows.table.rows):
        await _turn(i)
        rows.row, rows.bad = number, False
        values: dict[str, Any] = {
            "id": rows.cell(cells, "id", parse_id),
            "name": rows.cell(cells, "name", lambda v: parse_name(v, "名称")),
        }
        rows.unique_id(values["id"])
        if rows.has("kind"):
            values["kind"] = rows.cell(cells, "kind", parse_kind)
        out.append(_Parsed(number, cells, values, rows.bad))
    return out


async def _units(
    db: Database, directory: Directory, rows: _Rows, parsed: Sequence[_Parsed], joins: Joins
) -> set[str] | None:
    if not rows.result.errors:  # in the transaction: moves are checked under the lock
        await store.lock_tree(db)
    stored = await store.list_units(db)
    existing = {u.id: u for u in stored}
    units = _Units(stored)
    result = rows.result
    for p in parsed:  # units of the file may be parents of earlier rows
        if p.values["id"] is not None and p.values["name"] is not None:
            units.add(p.values["id"], p.values["name"])
    plan: list[tuple[int, Unit]] = []
    for i, p in enumerate(parsed):
        await _turn(i)
        rows.row, rows.bad = p.number, p.bad
        uid, name = p.values["id"], p.values["name"]
        before = existing.get(uid) if uid else None
        parent = before.parent if before else None
        if rows.has("parent"):
            parent = rows.cell(p.cells, "parent", lambda c: units.resolve(c, "上级单位"))
        kind = p.values.get("kind") or (before.kind if before else "other")
        if uid is not None and name is not None and not rows.bad:
            plan.append((p.number, Unit(uid, name, parent, kind)))
    parents: dict[str, str | None] = {u.id: u.parent for u in stored}
    parents.update({u.id: u.parent for _, u in plan})
    await asyncio.sleep(0)
    cyclic = _on_cycles(parents, [u.id for _, u in plan])
    for number, u in plan:
        if u.id in cyclic:
            rows.row = number
            rows.error("parent", "cycle", f"单位“{u.id}”的上级关系形成了循环")
    if result.errors:
        return set()
    now = store_now()
    moved = False
    batch: list[Unit] = []
    for u in _parents_first([u for _, u in plan]):
        before = existing.get(u.id)
        if _count(result, before, u):
            batch.append(u)
            moved = moved or (before is not None and before.parent != u.parent)
    for i in range(0, len(batch), _CHUNK):  # one round trip per chunk, not per row
        await store.put_units(db, batch[i : i + _CHUNK], now)
    return None if moved else set()


def _parents_first(plan: Sequence[Unit]) -> list[Unit]:
    """Order the file's units so that a parent is written before its children: a
    breadth-first walk from the units whose parent is not in the file, through a
    dict of children (linear; units on a cycle were refused before)."""
    pending = {u.id for u in plan}
    children: dict[str, list[Unit]] = {}
    ordered: list[Unit] = []
    for u in plan:
        if u.parent is not None and u.parent in pending and u.parent != u.id:
            children.setdefault(u.parent, []).append(u)
        else:
            ordered.append(u)
    i = 0
    while i < len(ordered):
        ordered.extend(children.pop(ordered[i].id, ()))
        i += 1
    for rest in children.values():  # unreachable: cycles were refused
        ordered.extend(rest)
    return ordered


async def _parse_groups(rows: _Rows) -> list[_Parsed]:
    out: list[_Parsed] = []
    for i, (number, cells) in enumerate(rows.table.rows):
        await _turn(i)
        rows.row, rows.bad = number, False
        values: dict[str, Any] = {
            "id": rows.cell(cells, "id", parse_id),
            "name": rows.cell(cells, "name", lambda v: parse_name(v, "群组名称")),
        }
        rows.unique_id(values["id"])
        for col in ("owners", "members"):
            if rows.has(col):
                values[col] = rows.cell(cells, col, lambda v: _member_ids(v, "成员编号")) or []
        out.append(_Parsed(number, cells, values, rows.bad))
    return out


async def _groups(
    db: Database, directory: Directory, rows: _Rows, parsed: Sequence[_Parsed], joins: Joins
) -> set[str] | None:
    units = _Units(await store.list_units(db))
    result = rows.result
    listed = [mid for p in parsed for col in ("owners", "members") for mid in p.values.get(col, ())]
    known = set(await store.members_by_id(db, listed))
    gids = sorted({p.values["id"] for p in parsed if p.values["id"]})
    stored: dict[str, Group] = {}
    for i in range(0, len(gids), _CHUNK):
        stored.update((g.id, g) for g in await store.list_groups(db, ids=gids[i : i + _CHUNK]))
    plan: list[tuple[Group | None, Group]] = []
    for p in parsed:
        rows.row, rows.bad = p.number, p.bad
        gid, name = p.values["id"], p.values["name"]
        before = stored.get(gid) if gid else None
        g = (
            replace(before, owners=list(before.owners), members=list(before.members))
            if before
            else Group(gid or "", name or "")
        )
        g.name = name or g.name
        if rows.has("unit"):
            g.unit = rows.cell(p.cells, "unit", lambda c: units.resolve(c, "所属单位"))
        for col in ("owners", "members"):
            if col not in p.values:
                continue
            ids: list[str] = p.values[col]
            for mid in ids:
                if mid not in known:
                    rows.error(col, "unknown_member", f"成员“{mid}”不存在")
            setattr(g, col, ids)
        g.members = sorted(set(g.members) | set(g.owners))
        g.owners = sorted(set(g.owners))
        plan.append((before, g))
    if result.errors:
        return set()
    touched: set[str] = set()
    for before, g in plan:
        if before is not None:
            before = replace(before, owners=sorted(before.owners), members=sorted(before.members))
        if _count(result, before, g):
            touched |= await directory.write_group(db, g, joins)
    return touched


_Apply = Callable[
    [Database, Directory, _Rows, Sequence[_Parsed], Joins], Awaitable[set[str] | None]
]
_PARSERS: Final[dict[str, Callable[[_Rows], Awaitable[list[_Parsed]]]]] = {
    "members": _parse_members,
    "units": _parse_units,
    "groups": _parse_groups,
}
_APPLY: Final[dict[str, _Apply]] = {"members": _members, "units": _units, "groups": _groups}


def store_now() -> int:
    return int(time.time() * 1000)
