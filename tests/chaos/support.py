"""The chaos suite's deployment: a Redis, a PostgreSQL and two ``hub serve``
processes, all started by the test on free ports and restartable at will.

The PostgreSQL is a throw-away cluster (``initdb`` in a temporary directory, run
as the ``postgres`` user when the test runs as root), never the shared server on
5432, so restarting it hurts no other test.
"""

from __future__ import annotations

import asyncio
import json as json_mod
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.hub.redis_support import REDIS_SERVER, RedisServer
from tests.support.hubs import HubProcess, free_port

__all__ = ["PG_BIN", "Deployment", "PgServer", "deployment", "summary"]

PG_BIN = Path(os.environ.get("HUB_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def summary(name: str, **figures: Any) -> str:
    """The one-line figures a chaos test prints (docs/reliability.md quotes them)."""
    line = f"CHAOS {name}: " + " ".join(f"{k}={v}" for k, v in figures.items())
    print("\n" + line, flush=True)
    return line


class PgServer:
    """A PostgreSQL cluster of its own on a free port (socket dir inside it)."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: that is private to root, and the server
        # runs as the postgres user.
        directory = Path(tempfile.mkdtemp(prefix="hub-chaos-pg-"))
        self.dir = directory
        self.data = directory / "pgdata"
        self.port = free_port()
        self.log = directory / "pg.log"
        self._user: list[str] = []
        if os.geteuid() == 0:
            self._user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self._user, *args], capture_output=True, timeout=120, check=check)

    def init(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._user:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-N"
        )

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200 -c shared_buffers=32MB"
        )
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
            check=False,
        )  # fmt: skip

    def restart(self) -> None:
        self.stop("immediate")  # a crash: no checkpoint, connections cut
        self.start()

    async def answers(self) -> bool:
        try:
            conn = await asyncpg.connect(self.url, timeout=1)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True


@dataclass
class Deployment:
    root: Path
    redis: RedisServer
    pg: PgServer
    hubs: list[HubProcess] = field(default_factory=list)

    def hub_env(self, **extra: str) -> dict[str, str]:
        env = {
            "HUB_REDIS_URL": self.redis.url + "?probe_interval=1",
            "HUB_DATABASE_URL": self.pg.url,
            "HUB_WORKERS": "1",
            "HUB_RATE_LIMIT": "10000",
            "HUB_RATE_BURST": "10000",
        }
        env.update(extra)
        return env

    def add_hub(self, secret: str, api_key: str, **extra: str) -> HubProcess:
        i = len(self.hubs)
        h = HubProcess(self.root / f"hub{i}" / "data", env=self.hub_env(**extra))
        h.data_dir.mkdir(parents=True)
        h.secret, h.api_key = secret, api_key
        h.start(timeout=60)
        self.hubs.append(h)
        return h

    def restart_redis(self, sig: int = signal.SIGKILL) -> None:
        proc = self.redis.proc
        assert proc is not None
        proc.send_signal(sig)
        proc.wait(10)
        self.redis.proc = None
        self.redis.start()

    async def redis_answers(self) -> bool:
        return await asyncio.to_thread(self.redis.command, "PING") == b"+PONG\r\n"


async def api(
    s: aiohttp.ClientSession, h: HubProcess, method: str, path: str, json: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {h.api_key}"}
    timeout = aiohttp.ClientTimeout(total=15)
    async with s.request(
        method, h.http_url + path, json=json, headers=headers, timeout=timeout
    ) as r:
        text = await r.text()
        try:
            return r.status, json_mod.loads(text)
        except ValueError:
            return r.status, {"not_json": text[:300]}


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN}")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL")
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    pg = PgServer()
    d = Deployment(tmp_path, redis, pg)
    try:
        pg.init()
        pg.start()
        yield d
    finally:
        for h in d.hubs:
            if h.proc is not None and h.proc.poll() is None:
                h.kill()
        pg.stop("immediate")
        shutil.rmtree(pg.dir, ignore_errors=True)
        redis.stop()
