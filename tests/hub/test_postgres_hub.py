"""A real hub on PostgreSQL: the HTTP API end to end, restarts, and ``hub migrate``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import asyncpg

from hub.store.postgres import PostgresStore
from tests.support.hubs import HubProcess, InProcessHub, running_hub, wait_until


async def history(hub: InProcessHub, channel: str) -> tuple[str, list[tuple[int, object]]]:
    status, body = await hub.api("GET", f"/api/channels/{channel}/history?limit=10")
    assert status == 200, body
    return body["epoch"], [(m["offset"], m["data"]) for m in body["messages"]]


async def test_history_survives_a_clean_restart(tmp_path: Path, postgres_url: str) -> None:
    async with running_hub(tmp_path / "data", database_url=postgres_url) as hub:
        assert type(hub.runtime.store) is PostgresStore
        for n, text in enumerate(["你好", "second"], start=1):
            status, body = await hub.api(
                "POST", "/api/publish", json={"channel": "chat:room", "data": {"t": text}}
            )
            assert status == 200 and body["offset"] == n, body
        epoch = body["epoch"]
        status, _ = await hub.api("GET", "/readyz")
        assert status == 200
    async with running_hub(tmp_path / "data2", database_url=postgres_url) as hub:
        assert not hub.runtime.store.recovered_from_crash
        assert await history(hub, "chat:room") == (
            epoch,
            [(1, {"t": "你好"}), (2, {"t": "second"})],
        )
        status, body = await hub.api(
            "POST", "/api/publish", json={"channel": "chat:room", "data": {"t": "third"}}
        )
        assert (status, body) == (200, {"offset": 3, "epoch": epoch})


async def test_killed_hub_restarts_with_new_epochs(tmp_path: Path, postgres_url: str) -> None:
    proc = HubProcess(tmp_path / "data", env={"HUB_DATABASE_URL": postgres_url})
    await asyncio.to_thread(proc.start)
    try:
        headers = {"Authorization": f"Bearer {proc.api_key}"}
        async with (
            aiohttp.ClientSession(headers=headers) as s,
            s.post(proc.http_url + "/api/publish", json={"channel": "chat:room", "data": 1}) as r,
        ):
            assert r.status == 200
            before = (await r.json())["epoch"]
    finally:
        await asyncio.to_thread(proc.stop, signal.SIGKILL)
    await wait_until(lambda: run_guard_gone(postgres_url), what="the server to drop the kill")
    async with running_hub(tmp_path / "data", database_url=postgres_url) as hub:
        assert hub.runtime.store.recovered_from_crash
        epoch, messages = await history(hub, "chat:room")
        assert epoch != before and messages == [(1, 1)]


async def run_guard_gone(url: str) -> bool:
    """Whether the server has dropped the killed hub's sessions (the tests' URLs name
    their schema in ``application_name``, and so do all of a hub's connections)."""
    conn = await asyncpg.connect(url)
    try:
        n = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = current_setting('application_name') "
            "AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return bool(n == 0)


async def test_live_runs_do_not_look_crashed(postgres_url: str) -> None:
    """Several processes share one database: only a dead run counts as a crash."""
    first, second = PostgresStore(postgres_url), PostgresStore(postgres_url)
    await first.open()
    await second.open()
    assert not second.recovered_from_crash
    assert second.default_epoch == first.default_epoch
    await first.close()
    await second.close()
    third = PostgresStore(postgres_url)
    await third.open()
    assert not third.recovered_from_crash and third.default_epoch == first.default_epoch
    await third.close()


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "channels.cli",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_hub_migrate_creates_the_tables(tmp_path: Path, postgres_url: str) -> None:
    env = {"HUB_DATABASE_URL": postgres_url, "HUB_DATA_DIR": str(tmp_path / "data")}
    for _ in range(2):  # the second run finds nothing to do
        code, out = await run_cli("migrate", env=env)
        assert code == 0, out
    conn = await asyncpg.connect(postgres_url)
    try:
        tables = {
            r[0]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }
        versions = await conn.fetch("SELECT component, version FROM hub_migrations")
        running = await conn.fetchval("SELECT count(*) FROM hub_meta WHERE key LIKE 'running:%'")
    finally:
        await conn.close()
    assert {"hub_meta", "hub_channels", "hub_messages", "hub_migrations"} <= tables
    assert ("hub", 1) in [tuple(v) for v in versions]
    assert running == 0  # stopped cleanly


async def test_hub_migrate_names_an_unreachable_server(tmp_path: Path) -> None:
    env = {
        "HUB_DATABASE_URL": "postgresql://hub:s3cret@127.0.0.1:1/hub",
        "HUB_DATA_DIR": str(tmp_path / "data"),
    }
    code, out = await run_cli("migrate", env=env)
    assert code == 2, out
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/hub" in out
    assert "s3cret" not in out and "Traceback" not in out
