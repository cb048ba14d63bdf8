"""The embedded store: SQLite in WAL mode, used from one dedicated thread.

Crash rule (documented in docs/architecture.md): a publish is fanned out at
once and acknowledged once its batch is committed. A SIGKILL can lose the
unflushed batch; so that an offset is never reused for a different message
under the same epoch, opening a database whose previous run did not stop
cleanly changes the default epoch and the epoch of every channel.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar

from hub.core.interfaces import ArchivedMessage, ChannelSnapshot

__all__ = ["SqliteStore"]

T = TypeVar("T")

_SCHEMA: Final = """
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
"""


def _new_epoch() -> str:
    return secrets.token_hex(4)


def _row(channel: str, epoch: str, r: tuple[Any, ...]) -> ArchivedMessage:
    return ArchivedMessage(channel, epoch, r[0], r[1], r[2], bytes(r[3]), r[4])


class SqliteStore:
    """Implements :class:`hub.core.interfaces.Store` on a SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-sqlite")
        self._db: sqlite3.Connection | None = None
        self._default_epoch = ""
        self._crashed = False

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
    def default_epoch(self) -> str:
        return self._default_epoch

    @property
    def recovered_from_crash(self) -> bool:
        return self._crashed

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    # -- lifecycle ---------------------------------------------------------
    async def open(self) -> None:
        await self._call(self._open_sync)

    def _open_sync(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        self._db = db
        meta = dict(db.execute("SELECT key, value FROM hub_meta").fetchall())
        self._crashed = meta.get("running") == "1"
        epoch = meta.get("epoch")
        db.execute("BEGIN IMMEDIATE")
        try:
            if epoch is None or self._crashed:
                epoch = _new_epoch()
                db.execute("INSERT OR REPLACE INTO hub_meta VALUES ('epoch', ?)", (epoch,))
            if self._crashed:
                # Offsets handed out but never committed may be handed out again:
                # a new epoch tells every client that recovers to reload instead.
                db.execute("UPDATE hub_channels SET epoch = lower(hex(randomblob(4)))")
            db.execute("INSERT OR REPLACE INTO hub_meta VALUES ('running', '1')")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._default_epoch = epoch

    async def close(self) -> None:
        if self._db is not None:
            await self._call(self._close_sync)
        self._executor.shutdown(wait=True)

    def _close_sync(self) -> None:
        db = self._conn()
        db.execute("INSERT OR REPLACE INTO hub_meta VALUES ('running', '0')")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def ping(self) -> None:
        await self._call(lambda: self._conn().execute("SELECT 1").fetchone())

    # -- channels ----------------------------------------------------------
    async def load_channel(self, channel: str, limit: int, min_ts: int) -> ChannelSnapshot | None:
        return await self._call(self._load_sync, channel, limit, min_ts)

    def _load_sync(self, channel: str, limit: int, min_ts: int) -> ChannelSnapshot | None:
        db = self._conn()
        row = db.execute(
            "SELECT epoch, top FROM hub_channels WHERE name = ?", (channel,)
        ).fetchone()
        if row is None:
            return None
        epoch, top = row
        rows = db.execute(
            'SELECT "offset", ts, sender, data, idem FROM hub_messages '
            'WHERE channel = ? AND ts >= ? ORDER BY "offset" DESC LIMIT ?',
            (channel, min_ts, limit),
        ).fetchall()
        rows.reverse()
        return ChannelSnapshot(epoch, top, [_row(channel, epoch, r) for r in rows])

    async def write_messages(self, batch: Sequence[ArchivedMessage]) -> None:
        await self._call(self._write_sync, batch)

    def _write_sync(self, batch: Sequence[ArchivedMessage]) -> None:
        db = self._conn()
        tops: dict[str, tuple[str, int]] = {}
        for m in batch:
            prev = tops.get(m.channel)
            if prev is None or m.offset > prev[1]:
                tops[m.channel] = (m.epoch, m.offset)
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT OR IGNORE INTO hub_messages VALUES (?, ?, ?, ?, ?, ?)",
                [(m.channel, m.offset, m.ts, m.from_, m.data_json, m.idem) for m in batch],
            )
            db.executemany(
                "INSERT INTO hub_channels (name, epoch, top) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET top = max(top, excluded.top)",
                [(name, epoch, top) for name, (epoch, top) in tops.items()],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def read_messages(
        self, channel: str, *, after: int | None, before: int | None, limit: int
    ) -> list[ArchivedMessage]:
        return await self._call(self._read_sync, channel, after, before, limit)

    def _read_sync(
        self, channel: str, after: int | None, before: int | None, limit: int
    ) -> list[ArchivedMessage]:
        db = self._conn()
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
                cols + ' AND "offset" < ? ORDER BY "offset" DESC LIMIT ?', (channel, bound, limit)
            ).fetchall()
            rows.reverse()
        return [_row(channel, epoch, r) for r in rows]

    async def trim(self, older_than_ts: int) -> int:
        """Delete archived messages older than ``older_than_ts`` (ms); returns how many."""

        def run() -> int:
            cur = self._conn().execute("DELETE FROM hub_messages WHERE ts < ?", (older_than_ts,))
            return cur.rowcount

        return await self._call(run)
