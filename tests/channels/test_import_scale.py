"""Large units trees through the CSV import: linear work, and the event loop keeps
serving other clients while a 10,000-unit file is imported."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from channels.directory import importer
from tests.channels.conftest import DomainHub

N = 10_000


def deep_chain(n: int, prefix: str = "u") -> bytes:
    """A chain ``u0 ← u1 ← … ← u(n-1)``, listed children first (the worst order)."""
    rows = [f"{prefix}{i},单位{i},{f'{prefix}{i - 1}' if i else ''},支部" for i in range(n)]
    return ("编号,名称,上级单位,类型\n" + "\n".join(reversed(rows)) + "\n").encode()


def wide_tree(n: int) -> bytes:
    """One root, 100 streets, the rest communities spread over them."""
    rows = ["w0,根,,区"] + [f"w{i},街道{i},w0,街道" for i in range(1, 101)]
    rows += [f"w{i},社区{i},w{1 + i % 100},社区" for i in range(101, n)]
    return ("编号,名称,上级单位,类型\n" + "\n".join(reversed(rows)) + "\n").encode()


class _RowCounter:
    """Counts the rows the import works on, through the two functions it calls once per
    row: parsing the row's id (first pass, before the transaction) and resolving its
    parent (second pass, in the transaction). Both are the real functions, called
    through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows = 0
        self.started = asyncio.Event()  # set at the first row
        real_parse_id, real_resolve = importer.parse_id, importer._Units.resolve

        def parse_id(*args: Any) -> str:
            self.rows += 1
            self.started.set()
            return real_parse_id(*args)

        def resolve(units: Any, *args: Any) -> str | None:
            self.rows += 1
            return real_resolve(units, *args)

        monkeypatch.setattr(importer, "parse_id", parse_id)
        monkeypatch.setattr(importer._Units, "resolve", resolve)


@pytest.mark.parametrize("shape", ["deep", "wide"])
async def test_big_import_does_not_block_the_loop(
    dhub: DomainHub, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """While a 10,000-unit file is imported over HTTP, a task of the same event loop
    gets a turn at least every ``2 × _YIELD`` rows: deterministic (rows between two
    turns, not seconds), and it fails when the import stops yielding (10,000 rows in
    one stretch)."""
    data = deep_chain(N) if shape == "deep" else wide_tree(N)
    counter = _RowCounter(monkeypatch)
    gaps: list[int] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = 0
        while not done.is_set():
            await asyncio.sleep(0)
            gaps.append(counter.rows - last)
            last = counter.rows

    tick = asyncio.create_task(ticker())
    try:
        status, body = await dhub.api("POST", "/api/directory/import?kind=units", data=data)
    finally:
        done.set()
        await tick
    assert status == 200 and body["created"] == N, body
    assert counter.rows == 2 * N  # every row parsed once and its parent resolved once
    assert max(gaps) <= 2 * importer._YIELD, max(gaps)
    assert sum(1 for g in gaps if g) >= 2 * N // (2 * importer._YIELD)
    leaf = f"u{N - 1}" if shape == "deep" else f"w{N - 1}"
    unit = await dhub.ok("GET", f"/api/units/{leaf}")
    assert unit["parent"] == (f"u{N - 2}" if shape == "deep" else "w100")
    # importing the same file again changes nothing
    status, body = await dhub.api("POST", "/api/directory/import?kind=units", data=data)
    assert status == 200 and body["unchanged"] == N and body["changed"] is False


async def test_rows_are_parsed_before_the_transaction(
    dhub: DomainHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cells are parsed outside the transaction (on SQLite a transaction holds the
    store for every other request): at its first turn of the event loop while parsing,
    the import itself waits for another query of the same store. Were the parse inside
    the transaction, on SQLite that query would wait for the import's own lock, and
    the import would fail (the wait has a deadline) instead of answering 200.
    (On PostgreSQL other connections are never held: there it passes either way.)"""
    counter = _RowCounter(monkeypatch)
    db = dhub.hub.runtime.store.database
    real_turn = importer._turn
    answered_at: list[int] = []

    async def turn(i: int) -> None:
        if not answered_at and i == importer._YIELD - 1:  # the first turn: parsing
            await asyncio.wait_for(db.fetchval("SELECT COUNT(*) FROM dir_units"), 30)
            answered_at.append(counter.rows)
        await real_turn(i)

    monkeypatch.setattr(importer, "_turn", turn)
    status, body = await dhub.api("POST", "/api/directory/import?kind=units", data=deep_chain(N))
    assert status == 200 and body["created"] == N, body
    assert answered_at == [importer._YIELD - 1], answered_at  # answered while parsing


class CountingDatabase:
    """The real database, counting the statements sent to it (round trips)."""

    def __init__(self, db: Any, counter: list[int]) -> None:
        self._db, self._counter = db, counter
        self.dialect = db.dialect

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    async def _count(self, name: str, *args: Any) -> Any:
        self._counter[0] += 1
        return await getattr(self._db, name)(*args)

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self._count("execute", sql, *args)

    async def executemany(self, sql: str, rows: Any) -> Any:
        return await self._count("executemany", sql, rows)

    async def fetch(self, sql: str, *args: Any) -> Any:
        return await self._count("fetch", sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return await self._count("fetchrow", sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._count("fetchval", sql, *args)

    def transaction(self) -> Any:
        return _CountingTx(self._db.transaction(), self._counter)


class _CountingTx:
    def __init__(self, cm: Any, counter: list[int]) -> None:
        self._cm, self._counter = cm, counter

    async def __aenter__(self) -> CountingDatabase:
        return CountingDatabase(await self._cm.__aenter__(), self._counter)

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._cm.__aexit__(*exc)


@pytest.fixture
async def counted(dhub: DomainHub) -> AsyncIterator[tuple[DomainHub, list[int]]]:
    counter = [0]
    directory = dhub.ext.directory
    real = directory._database
    directory._database = lambda: CountingDatabase(real(), counter)  # type: ignore[assignment,return-value]
    yield dhub, counter
    directory._database = real


async def _statements(h: DomainHub, counter: list[int], kind: str, data: bytes) -> int:
    counter[0] = 0
    status, body = await h.api("POST", f"/api/directory/import?kind={kind}", data=data)
    assert status == 200 and body["changed"], body
    return counter[0]


async def test_import_round_trips_do_not_grow_with_the_rows(
    counted: tuple[DomainHub, list[int]],
) -> None:
    """Statements per import: a few per 500 rows, never one (or more) per row."""
    h, counter = counted
    small = await _statements(h, counter, "units", deep_chain(1000, "a"))
    big = await _statements(h, counter, "units", deep_chain(2000, "b"))
    assert small <= 10 and big <= 2 * small, (small, big)
    members = "编号,姓名,所属单位,手机号\n" + "".join(
        f"m{i},成员{i},b{i % 2000},1391234{i:04d}\n" for i in range(2000)
    )
    n_members = await _statements(h, counter, "members", members.encode())
    groups = "编号,名称,群主,成员\n" + "".join(
        f"g{i},群{i},m{i},{'、'.join(f'm{j}' for j in range(i, i + 20))}\n" for i in range(200)
    )
    n_groups = await _statements(h, counter, "groups", groups.encode())
    assert n_members <= 20 and n_groups <= 5 * 200, (n_members, n_groups)
    counter[0] = 0
    exported = await h.ok("GET", "/api/groups")
    assert len(exported["groups"]) == 200 and counter[0] <= 5, counter[0]


async def test_deep_tree_cycle_check_and_rollup_see_the_whole_chain(dhub: DomainHub) -> None:
    """Beyond any fixed depth: a 300-level chain (the ancestor walk used to stop at 64)."""
    status, body = await dhub.api(
        "POST", "/api/directory/import?kind=units", data=deep_chain(300, "c")
    )
    assert status == 200 and body["created"] == 300, body
    # moving the root under its deepest descendant would close a cycle
    status, body = await dhub.api("PATCH", "/api/units/c0", {"parent": "c299"})
    assert status == 409 and body["error"]["reason"] == "cycle", body
    assert (await dhub.ok("GET", "/api/units/c0"))["parent"] is None
    assert len((await dhub.ok("GET", "/api/units/c299"))["ancestors"]) == 299
    await dhub.ok("POST", "/api/members", {"id": "leaf", "name": "王芳", "unit": "c299"})
    await dhub.ok(
        "POST", "/api/members", {"id": "home", "name": "赵磊", "unit": "c150", "flowing": True}
    )
    await dhub.ok("POST", "/api/members/home/flowing", {"unit": "c280"})
    notice = {"title": "通知", "body": "内容", "audience": {"units": ["c0"]}, "sender": "leaf"}
    status, created = await dhub.api("POST", "/api/notices", notice)
    assert status == 201, created
    info = await dhub.ok("GET", f"/api/notices/{created['notice']['id']}")
    units = {u["unit"]: u for u in info["units"]}
    assert len(units) == 300 and units["c0"]["total"] == 2 and units["c0"]["via_home"] == 0
    assert units["c299"]["total"] == 1 and units["c280"]["total"] == 2
    assert units["c150"]["total"] == 2 and units["c150"]["via_home"] == 0  # on both chains
    assert [u["unit"] for u in info["units"][:3]] == ["c0", "c1", "c2"]  # root first
