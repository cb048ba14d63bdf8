"""The embedded store: SQLite in WAL mode, used from one dedicated thread.

Crash rule (docs/architecture.md): a publish is fanned out at once and
acknowledged once its batch is committed. A SIGKILL can lose the unflushed
batch; so that an offset is never reused for a different message under the same
epoch, opening a database whose previous run did not stop cleanly changes the
default epoch and the epoch of every channel.

Every statement runs in the store's thread under one asyncio lock, so a
transaction of the layers above (``database.transaction()``) is never
interleaved with the archive's batch writes.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

from hub.config import ConfigError
from hub.core.interfaces import ArchivedMessage, ChannelSnapshot, Database, Migration, Row
from hub.files import private_dir, private_file
from hub.store.common import InTransaction, script_for

__all__ = ["SqliteDatabase", "SqliteStore"]

T = TypeVar("T")

_ENGINE_MIGRATIONS: Final[Sequence[Migration]] = (
    """
    CREATE TABLE IF NOT EXISTS hub_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS hub_channels (
        name TEXT PRIMARY KEY,
        epoch TEXT NOT NULL,
        top INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS hub_messages (
        channel TEXT NOT NULL,
        "offset" INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        sender TEXT,
        data BLOB NOT NULL,
        idem TEXT,
        PRIMARY KEY (channel, "offset")
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS hub_messages_ts ON hub_messages (ts);
    """,
)


def _try_lock(path: Path) -> int | None:
    """An exclusive flock on ``path`` (created if missing), or None when another holds it."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _hold_lock(path: Path) -> int:
    fd = _try_lock(path)
    if fd is None:
        raise RuntimeError(f"run lock {path} is held by another process")
    return fd


def _use_wal(conn: sqlite3.Connection, tries: int = 100) -> None:
    """Switch a database to WAL (persistent once done). Two processes opening a new file
    together race for it, and SQLite answers the loser "locked" without waiting."""
    for _ in range(tries):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.02)
    conn.execute("PRAGMA journal_mode=WAL")


def _new_epoch() -> str:
    return secrets.token_hex(4)


def _row(channel: str, epoch: str, r: Row) -> ArchivedMessage:
    return ArchivedMessage(channel, epoch, r[0], r[1], r[2], bytes(r[3]), r[4])


class _Sync:
    """Statements on the sqlite3 connection (called in the store's thread)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any]) -> int:
        cur = self.conn.execute(sql, args)
        if cur.description is not None:  # RETURNING: rowcount is known once rows are read
            cur.fetchall()
        return cur.rowcount

    def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        return self.conn.execute(sql, args).fetchall()

    def fetchrow(self, sql: str, args: Sequence[Any]) -> Row | None:
        return self.conn.execute(sql, args).fetchone()


class _Tx(InTransaction):
    """A :class:`Database` bound to an open transaction (the lock is already held)."""

    dialect = "sqlite"

    def __init__(self, owner: SqliteDatabase) -> None:
        self._owner = owner

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._owner._run(lambda s: s.execute(sql, args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        await self._owner._run(lambda s: s.executemany(sql, batch))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._owner._run(lambda s: s.fetch(sql, args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self._owner._run(lambda s: s.fetchrow(sql, args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]


class SqliteDatabase:
    """Implements :class:`hub.core.interfaces.Database` on one sqlite3 connection."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = None
        self._sync: _Sync | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        def connect() -> _Sync:
            if self.path != ":memory:" and not self.path.startswith("file:"):
                parent = Path(self.path).parent
                if not parent.is_dir():
                    private_dir(parent)
                # 0600 before SQLite opens it: its -wal and -shm files take this mode
                private_file(self.path)
                for suffix in ("-wal", "-shm", "-journal"):
                    if os.path.exists(self.path + suffix):
                        private_file(self.path + suffix)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=5000")
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            return _Sync(conn)

        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-sqlite")
        try:
            self._sync = await loop.run_in_executor(self._executor, connect)
        except (sqlite3.Error, OSError) as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise ConfigError(f"cannot open the SQLite database {self.path}: {exc}") from exc

    async def close(self) -> None:
        executor, sync = self._executor, self._sync
        if executor is None:
            return
        async with self._lock:
            self._sync = None
            if sync is not None:
                await asyncio.get_running_loop().run_in_executor(executor, sync.conn.close)
        self._executor = None
        executor.shutdown(wait=True)

    async def _run(self, fn: Callable[[_Sync], T]) -> T:
        sync, executor = self._sync, self._executor
        if sync is None or executor is None:
            raise RuntimeError("database is not open")
        return await asyncio.get_running_loop().run_in_executor(executor, fn, sync)

    async def run_locked(self, fn: Callable[[_Sync], T]) -> T:
        async with self._lock:
            return await self._run(fn)

    async def execute(self, sql: str, *args: Any) -> int:
        return await self.run_locked(lambda s: s.execute(sql, args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        await self.run_locked(lambda s: s.executemany(sql, batch))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self.run_locked(lambda s: s.fetch(sql, args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self.run_locked(lambda s: s.fetchrow(sql, args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        async with self._lock:
            await self._run(lambda s: s.execute("BEGIN IMMEDIATE", ()))
            try:
                yield _Tx(self)
                await self._run(lambda s: s.execute("COMMIT", ()))
            except BaseException:
                if self._sync is not None and self._sync.conn.in_transaction:
                    await self._run(lambda s: s.execute("ROLLBACK", ()))
                raise

    async def migrate(self, component: str, steps: Sequence[Migration]) -> list[int]:
        def create(s: _Sync) -> None:
            # Under the write lock from the start: a statement that reads first and
            # then writes fails at once (SQLITE_BUSY_SNAPSHOT, no busy wait) when
            # another process committed in between.
            s.conn.execute("BEGIN IMMEDIATE")
            try:
                s.conn.execute(
                    "CREATE TABLE IF NOT EXISTS hub_migrations (component TEXT NOT NULL, "
                    "version INTEGER NOT NULL, applied_at INTEGER NOT NULL, "
                    "PRIMARY KEY (component, version))"
                )
                s.conn.execute("COMMIT")
            except BaseException:
                s.conn.execute("ROLLBACK")
                raise

        await self.run_locked(create)
        applied: list[int] = []
        for version, step in enumerate(steps, start=1):
            script = script_for(step, self.dialect)

            def apply(s: _Sync, version: int = version, script: str = script) -> bool:
                conn = s.conn
                conn.execute("BEGIN IMMEDIATE")  # the check too: another process may migrate
                try:
                    done = conn.execute(
                        "SELECT 1 FROM hub_migrations WHERE component = ? AND version = ?",
                        (component, version),
                    ).fetchone()
                    if done:
                        conn.execute("ROLLBACK")
                        return False
                    for statement in _statements(script):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO hub_migrations VALUES (?, ?, strftime('%s','now'))",
                        (component, version),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                return True

            if await self.run_locked(apply):
                applied.append(version)
        return applied


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3's execute takes one): at each
    ``;`` that ends a complete statement (not one inside a string or a trigger body)."""
    out: list[str] = []
    start = 0
    for i, ch in enumerate(script):
        if ch == ";" and sqlite3.complete_statement(script[start : i + 1]):
            statement = script[start : i + 1].strip()
            if statement.strip(";").strip():
                out.append(statement)
            start = i + 1
    rest = script[start:].strip()
    if rest:
        out.append(rest)
    return out


class SqliteStore:
    """Implements :class:`hub.core.interfaces.Store` on a SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = SqliteDatabase(path)
        self._default_epoch = ""
        self._crashed = False
        self._open = False
        self._run = ""
        self._lock_fd: int | None = None
        self._write_failed = False

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """``sqlite:///abs/path``, ``sqlite:////abs/path`` or ``sqlite:///./relative/path``."""
        path = url.removeprefix("sqlite://")
        if path.startswith(("/./", "/../", "//")):
            path = path[1:]
        if not path:
            raise ValueError("sqlite URL without a path")
        return cls(path)

    @property
    def database(self) -> Database:
        return self._db

    @property
    def default_epoch(self) -> str:
        return self._default_epoch

    @property
    def recovered_from_crash(self) -> bool:
        return self._crashed

    # -- lifecycle ---------------------------------------------------------
    # Each run holds an exclusive flock on its own lock file and records a
    # ``running:<run>`` marker. A marker whose lock file nobody holds belongs to a
    # run that died without closing: that is the crash the epoch rule is about.
    # Several processes may share the file (``--workers`` with Redis) without
    # taking each other for crashed runs.
    async def open(self) -> None:
        await self._db.open()
        await self._db.migrate("hub", _ENGINE_MIGRATIONS)
        self._run = secrets.token_hex(6)
        self._lock_fd = _hold_lock(self._lock_path(self._run))
        self._default_epoch, self._crashed = await self._db.run_locked(self._open_sync)
        self._open = True

    def _lock_path(self, run: str) -> Path:
        return Path(self.path + ".runs") / f"{run}.lock"

    def _dead_runs(self, markers: Sequence[str]) -> list[str]:
        dead = []
        for run in markers:
            fd = _try_lock(self._lock_path(run))
            if fd is not None:  # nobody holds it: that run is gone
                os.close(fd)
                dead.append(run)
        return dead

    def _open_sync(self, s: _Sync) -> tuple[str, bool]:
        db = s.conn
        db.execute("BEGIN IMMEDIATE")
        try:
            meta = {r[0]: r[1] for r in db.execute("SELECT key, value FROM hub_meta").fetchall()}
            markers = [k.removeprefix("running:") for k in meta if k.startswith("running:")]
            dead = self._dead_runs(markers)
            crashed = bool(dead) or meta.get("running") == "1"  # "running": the old single marker
            epoch = meta.get("epoch")
            if epoch is None or crashed:
                epoch = _new_epoch()
                db.execute("INSERT OR REPLACE INTO hub_meta VALUES ('epoch', ?)", (epoch,))
            if crashed:
                # Offsets handed out but never committed may be handed out again:
                # a new epoch tells every client that recovers to reload instead.
                db.execute("UPDATE hub_channels SET epoch = lower(hex(randomblob(4)))")
            for run in dead:
                db.execute("DELETE FROM hub_meta WHERE key = ?", ("running:" + run,))
            db.execute("DELETE FROM hub_meta WHERE key = 'running'")
            db.execute("INSERT INTO hub_meta VALUES (?, '1')", ("running:" + self._run,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for run in dead:
            self._lock_path(run).unlink(missing_ok=True)
        return epoch, crashed

    async def close(self) -> None:
        if self._open and self._write_failed:
            # Offsets were handed out that the archive lacks: leave the marker, so the
            # next start treats this run as a crash and changes the epochs.
            await self.abort()
            return
        if self._open:
            run = self._run

            def mark_clean(s: _Sync) -> None:
                s.conn.execute("DELETE FROM hub_meta WHERE key = ?", ("running:" + run,))
                s.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

            await self._db.run_locked(mark_clean)
            self._open = False
            self._lock_path(run).unlink(missing_ok=True)
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
        await self._db.close()

    async def abort(self) -> None:
        """Close as a killed process would: the run is never marked stopped (tests)."""
        self._open = False
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        await self._db.close()

    async def ping(self) -> None:
        await self._db.fetchval("SELECT 1")

    # -- channels ----------------------------------------------------------
    async def load_channel(self, channel: str, limit: int, min_ts: int) -> ChannelSnapshot | None:
        def load(s: _Sync) -> ChannelSnapshot | None:
            row = s.conn.execute(
                "SELECT epoch, top FROM hub_channels WHERE name = ?", (channel,)
            ).fetchone()
            if row is None:
                return None
            epoch, top = row[0], row[1]
            rows = s.conn.execute(
                'SELECT "offset", ts, sender, data, idem FROM hub_messages '
                'WHERE channel = ? AND ts >= ? ORDER BY "offset" DESC LIMIT ?',
                (channel, min_ts, limit),
            ).fetchall()
            rows.reverse()
            return ChannelSnapshot(epoch, top, [_row(channel, epoch, r) for r in rows])

        return await self._db.run_locked(load)

    async def write_messages(self, batch: Sequence[ArchivedMessage]) -> None:
        tops: dict[str, tuple[str, int]] = {}
        for m in batch:
            prev = tops.get(m.channel)
            if prev is None or m.offset > prev[1]:
                tops[m.channel] = (m.epoch, m.offset)
        rows = [(m.channel, m.offset, m.ts, m.from_, m.data_json, m.idem) for m in batch]
        channel_rows = [(name, epoch, top) for name, (epoch, top) in tops.items()]

        def write(s: _Sync) -> None:
            db = s.conn
            db.execute("BEGIN")
            try:
                db.executemany("INSERT OR IGNORE INTO hub_messages VALUES (?, ?, ?, ?, ?, ?)", rows)
                db.executemany(
                    "INSERT INTO hub_channels (name, epoch, top) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET top = max(top, excluded.top)",
                    channel_rows,
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        try:
            await self._db.run_locked(write)
        except BaseException:
            self._write_failed = True
            raise

    async def read_messages(
        self, channel: str, *, after: int | None, before: int | None, limit: int
    ) -> list[ArchivedMessage]:
        def read(s: _Sync) -> list[ArchivedMessage]:
            db = s.conn
            row = db.execute("SELECT epoch FROM hub_channels WHERE name = ?", (channel,)).fetchone()
            if row is None:
                return []
            epoch = row[0]
            cols = 'SELECT "offset", ts, sender, data, idem FROM hub_messages WHERE channel = ?'
            if after is not None:
                rows = db.execute(
                    cols + ' AND "offset" > ? ORDER BY "offset" LIMIT ?', (channel, after, limit)
                ).fetchall()
            else:
                bound = before if before is not None else 1 << 62
                rows = db.execute(
                    cols + ' AND "offset" < ? ORDER BY "offset" DESC LIMIT ?',
                    (channel, bound, limit),
                ).fetchall()
                rows.reverse()
            return [_row(channel, epoch, r) for r in rows]

        return await self._db.run_locked(read)

    async def trim(self, older_than_ts: int) -> int:
        """Delete archived messages older than ``older_than_ts`` (ms); returns how many."""
        return await self._db.execute("DELETE FROM hub_messages WHERE ts < ?", older_than_ts)
