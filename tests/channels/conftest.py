"""Fixtures of the domain tests: a hub with the domain extension on each store,
and a small organization loaded through the API.

The store parametrization: ``sqlite`` always; ``postgresql`` only when
``tests.support.postgres`` (the PostgreSQL test support) can be imported — it
is checked once at collection time, and when it is missing the parameter is
absent rather than skipped.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from adapters.standin import Standins, start_standins
from channels.app import DomainExtension
from tests.support.hubs import InProcessHub, hub_settings, running_hub


def _postgres_support() -> ModuleType | None:
    try:
        return importlib.import_module("tests.support.postgres")
    except ImportError:
        return None


_PG = _postgres_support()
STORES = ["sqlite"] + (["postgresql"] if _PG is not None else [])


@pytest.fixture(params=STORES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'db' / 'hub.db'}"
        return
    assert _PG is not None
    async with _PG.temp_database("tz_channels") as url:
        yield url


@dataclass
class DomainHub:
    hub: InProcessHub
    ext: DomainExtension

    def token(self, sub: str, **claims: Any) -> str:
        return self.hub.token(sub, **claims)

    async def api(self, method: str, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        return await self.hub.api(method, path, json, **kw)

    async def ok(self, method: str, path: str, json: Any = None, **kw: Any) -> Any:
        status, body = await self.api(method, path, json, **kw)
        assert status in (200, 201), (status, body)
        return body


@contextlib.asynccontextmanager
async def domain_hub(data_dir: Path, database_url: str) -> AsyncIterator[DomainHub]:
    ext = DomainExtension(hub_settings(data_dir))
    async with running_hub(data_dir, extensions=[ext], database_url=database_url) as hub:
        yield DomainHub(hub, ext)


@pytest.fixture
async def dhub(tmp_path: Path, database_url: str) -> AsyncIterator[DomainHub]:
    async with domain_hub(tmp_path / "data", database_url) as h:
        yield h


ORG_UNITS = [
    {"id": "d", "name": "示范区", "kind": "区"},
    {"id": "s1", "name": "新华街道", "parent": "d", "kind": "street"},
    {"id": "s2", "name": "和平街道", "parent": "d", "kind": "街道"},
    {"id": "c1", "name": "安园社区", "parent": "s1", "kind": "社区"},
    {"id": "b1", "name": "安园第一支部", "parent": "c1", "kind": "支部"},
    {"id": "b2", "name": "和平流动党员支部", "parent": "s2", "kind": "支部"},
]
ORG_MEMBERS = [
    {"id": "admin1", "name": "张伟", "unit": "d", "roles": ["admin", "cadre"]},
    {"id": "staff1", "name": "李娜", "unit": "s1", "roles": "党务工作者"},
    {"id": "m1", "name": "王芳", "unit": "b1", "phone": "138 0013 8000"},
    {"id": "m2", "name": "赵磊", "unit": "b1"},
    {"id": "m3", "name": "孙丽", "unit": "b2"},
    {
        "id": "flow1",
        "name": "刘洋",
        "unit": "b2",
        "flowing": True,
        "home_unit": "b1",
        "location": "广东省深圳市",
    },
]
ORG_GROUPS = [
    {"id": "g1", "name": "安园工作群", "owners": ["staff1"], "members": ["m1", "m2"]},
    {"id": "g2", "name": "和平群", "members": ["m3"]},
]


async def load_org(h: DomainHub) -> None:
    for unit in ORG_UNITS:
        await h.ok("POST", "/api/units", unit)
    for member in ORG_MEMBERS:
        await h.ok("POST", "/api/members", member)
    for group in ORG_GROUPS:
        await h.ok("POST", "/api/groups", group)


@pytest.fixture
async def org(dhub: DomainHub) -> DomainHub:
    await load_org(dhub)
    return dhub


# -- notices and alerts (appended) ------------------------------------------------------
class FakeClock:
    """Wall time the tests move by hand (seconds)."""

    def __init__(self, start: float = 1_760_000_000.0) -> None:  # 2025-10-09 16:53 UTC+8
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextlib.asynccontextmanager
async def notice_hub(
    data_dir: Path, database_url: str, clock: FakeClock, **ext_kw: Any
) -> AsyncIterator[DomainHub]:
    ext_kw.setdefault("adapters_env", {})
    ext = DomainExtension(hub_settings(data_dir), clock=clock, escalation_poll=None, **ext_kw)
    async with running_hub(data_dir, extensions=[ext], database_url=database_url) as hub:
        yield DomainHub(hub, ext)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def nhub(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[DomainHub]:
    async with notice_hub(tmp_path / "data", database_url, clock) as h:
        await load_org(h)
        yield h


@pytest.fixture
async def standins() -> AsyncIterator[Standins]:
    """Every provider's stand-in, on free ports, for the test's hub."""
    s = await start_standins()
    try:
        yield s
    finally:
        await s.close()
