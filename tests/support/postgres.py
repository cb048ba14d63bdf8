"""Real PostgreSQL for tests: temporary databases and schemas, and a ``database_url``
fixture parametrized over the two stores (``sqlite``, ``postgresql``).

The server is ``HUB_TEST_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); ``make test`` starts it
(deploy/scripts/system-deps.sh). Expose the fixtures to a test package with
``from tests.support.postgres import database_url, postgres_url  # noqa: F401``
in its conftest.py.

Creating a database costs ~0.3 s (more on a busy machine), so the fixtures create
one database per test session and give every test its own schema in it (the URL
carries ``search_path`` and ``application_name``, both set to the schema's name).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

__all__ = [
    "ADMIN_URL",
    "database_url",
    "postgres_url",
    "session_database_url",
    "temp_database",
    "temp_schema",
]

ADMIN_URL = os.environ.get("HUB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


async def _terminate(conn: asyncpg.Connection, column: str, value: str) -> None:
    await conn.execute(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE {column} = $1 AND pid <> pg_backend_pid()",
        value,
    )


async def create_database(name: str) -> str:
    """Create database ``name`` on the test server; returns its URL."""
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(ADMIN_URL)._replace(path="/" + name))


async def drop_database(name: str) -> None:
    """Drop database ``name``, terminating the connections left to it."""
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await _terminate(conn, "datname", name)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def temp_database(prefix: str = "hub_test") -> AsyncIterator[str]:
    """Create a uniquely named database, yield its URL, drop it at exit."""
    name = _unique(prefix)
    url = await create_database(name)
    try:
        yield url
    finally:
        await drop_database(name)


@contextlib.asynccontextmanager
async def temp_schema(url: str, prefix: str = "t") -> AsyncIterator[str]:
    """A fresh schema in the database at ``url``; yields a URL whose sessions use it."""
    name = _unique(prefix)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(url)
    query = urlencode({"search_path": name, "application_name": name})
    try:
        yield urlunsplit(parts._replace(query=f"{parts.query}&{query}".lstrip("&")))
    finally:
        conn = await asyncpg.connect(url)
        try:
            await _terminate(conn, "application_name", name)
            await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def session_database_url() -> Iterator[str]:
    """One database for the whole test session (tests use schemas in it)."""
    name = _unique("hub_test")
    url = asyncio.run(create_database(name))
    yield url
    asyncio.run(drop_database(name))


@pytest.fixture
async def postgres_url(session_database_url: str) -> AsyncIterator[str]:
    """The URL of a fresh, empty PostgreSQL schema, dropped after the test."""
    async with temp_schema(session_database_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, session_database_url: str
) -> AsyncIterator[str]:
    """``sqlite:///<tmp>/hub.db`` or the URL of a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'db' / 'hub.db'}"
        return
    async with temp_schema(session_database_url) as url:
        yield url
