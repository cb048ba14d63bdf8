"""Real PostgreSQL for tests: a temporary database per use, and a ``database_url``
fixture parametrized over the two stores (``sqlite``, ``postgresql``).

The server is ``HUB_TEST_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); ``make test`` starts it
(deploy/scripts/system-deps.sh). Expose the fixtures to a test package with
``from tests.support.postgres import database_url, postgres_url  # noqa: F401``
in its conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

__all__ = ["ADMIN_URL", "database_url", "postgres_url", "temp_database"]

ADMIN_URL = os.environ.get("HUB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@contextlib.asynccontextmanager
async def temp_database(prefix: str = "hub_test") -> AsyncIterator[str]:
    """Create a uniquely named database, yield its URL, drop it at exit."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield _with_database(ADMIN_URL, name)
    finally:
        conn = await asyncpg.connect(ADMIN_URL)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        finally:
            await conn.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    async with temp_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """``sqlite:///<tmp>/hub.db`` or the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'db' / 'hub.db'}"
        return
    async with temp_database() as url:
        yield url
