"""The PostgreSQL store: the same tables and semantics as the SQLite store, on asyncpg.

Crash rule (as in :mod:`hub.store.sqlite`): a run that did not stop cleanly may
have handed out offsets it never committed, so opening after one changes the
default epoch and the epoch of every channel. Several processes share one
database, so the ``running`` marker is per run: ``running:<key>`` in
``hub_meta``, and the run holds the session advisory lock ``(_RUN_NS, key)`` on
a dedicated connection while it lives. Opening finds a marker whose lock nobody
holds — the process died, its connection with it — and treats it as a crash.
A clean :meth:`PostgresStore.close` deletes its marker.

Migrations take a transaction-level advisory lock, so processes starting
together apply each step exactly once.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from hub.config import ConfigError, Settings
from hub.core.interfaces import (
    UNAVAILABLE_ERRORS,
    ArchivedMessage,
    ChannelSnapshot,
    Database,
    Migration,
    Row,
)
from hub.store.common import InTransaction, script_for

__all__ = [
    "DatabaseUnavailableError",
    "PostgresDatabase",
    "PostgresStore",
    "redact_url",
    "translate_placeholders",
]

log = logging.getLogger("hub.store")


def _one_line(record: logging.LogRecord) -> bool:
    """asyncpg's pool logs a traceback while the server is down ("Failed to restore the
    pool connection floor"): keep the warning, on one line, with the error's repr."""
    if record.exc_info and record.levelno <= logging.WARNING:
        exc = record.exc_info[1]
        record.msg = f"{record.getMessage()}: {exc!r}"
        record.args = None
        record.exc_info = None
        record.exc_text = None
    return True


logging.getLogger("asyncpg.pool").addFilter(_one_line)
# The connection was lost or refused (server down, restarting, the backend terminated):
# answered 108, like any backend out of reach.
UNAVAILABLE_ERRORS.extend(
    [asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError]
)

_LOCK_NS: Final = 0x7A68_0001  # (ns, 1): migrations, (ns, 2): opening a store
_RUN_NS: Final = 0x7A68_0002  # (ns, run key): held by a live run
_POOL_OPTIONS: Final = {
    "min_size": int,
    "max_size": int,
    "command_timeout": float,
    "connect_timeout": float,
    "statement_cache_size": int,
}
# The server drops the guard connection of a vanished host (no FIN) after ~25 s,
# not after the OS default of hours: only then does its run count as crashed.
_GUARD_SETTINGS: Final = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}
_SECRET_QUERY_KEYS: Final = frozenset({"password", "sslpassword"})

_ENGINE_MIGRATIONS: Final[Sequence[Migration]] = (
    """
    CREATE TABLE IF NOT EXISTS hub_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS hub_channels (
        name TEXT PRIMARY KEY,
        epoch TEXT NOT NULL,
        top BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS hub_messages (
        channel TEXT NOT NULL,
        "offset" BIGINT NOT NULL,
        ts BIGINT NOT NULL,
        sender TEXT,
        data BYTEA NOT NULL,
        idem TEXT,
        PRIMARY KEY (channel, "offset")
    );
    CREATE INDEX IF NOT EXISTS hub_messages_ts ON hub_messages (ts);
    """,
)

_WRITE_SQL: Final = """
WITH messages AS (
    INSERT INTO hub_messages (channel, "offset", ts, sender, data, idem)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bytea[],
                         $6::text[])
    ON CONFLICT DO NOTHING
)
INSERT INTO hub_channels (name, epoch, top)
SELECT * FROM unnest($7::text[], $8::text[], $9::bigint[])
ON CONFLICT (name) DO UPDATE SET top = GREATEST(hub_channels.top, excluded.top)
"""

_MESSAGE_COLS: Final = 'm."offset", m.ts, m.sender, m.data, m.idem'
_LOAD_SQL: Final = f"""
SELECT c.epoch, c.top, {_MESSAGE_COLS}
FROM hub_channels c LEFT JOIN LATERAL (
    SELECT * FROM hub_messages
    WHERE channel = c.name AND ts >= $2 ORDER BY "offset" DESC LIMIT $3
) m ON true
WHERE c.name = $1
"""
_AFTER_SQL: Final = f"""
SELECT c.epoch, c.top, {_MESSAGE_COLS}
FROM hub_channels c LEFT JOIN LATERAL (
    SELECT * FROM hub_messages
    WHERE channel = c.name AND "offset" > $2 ORDER BY "offset" LIMIT $3
) m ON true
WHERE c.name = $1
"""
_BEFORE_SQL: Final = f"""
SELECT c.epoch, c.top, {_MESSAGE_COLS}
FROM hub_channels c LEFT JOIN LATERAL (
    SELECT * FROM hub_messages
    WHERE channel = c.name AND "offset" < $2 ORDER BY "offset" DESC LIMIT $3
) m ON true
WHERE c.name = $1
"""


class DatabaseUnavailableError(ConfigError):
    """The PostgreSQL server cannot be reached or refuses the connection at start.

    A :class:`~hub.config.ConfigError`, so the command line reports it in one line.
    The message names host, port and database, never the password.
    """


# -- URLs -------------------------------------------------------------------
def _split_netloc(netloc: str) -> tuple[str, str | None, str]:
    """``user:password@hosts`` → (user, password, hosts)."""
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        return "", None, netloc
    user, colon, password = userinfo.partition(":")
    return user, (password if colon else None), hosts


def redact_url(url: str) -> str:
    """The URL with its password (in the user part or the query) replaced by ``***``."""
    parts = urlsplit(url)
    user, password, hosts = _split_netloc(parts.netloc)
    netloc = hosts
    if user or password is not None:
        netloc = user + (":***" if password is not None else "") + "@" + hosts
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k in _SECRET_QUERY_KEYS else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _server_name(url: str) -> str:
    """``host:port/database`` for messages (every host of a multi-host URL)."""
    parts = urlsplit(url)
    hosts = _split_netloc(parts.netloc)[2] or "localhost"
    named = [h if h.rpartition(":")[2].isdigit() else f"{h}:5432" for h in hosts.split(",")]
    return ",".join(named) + (parts.path or "/")


def _pool_options(url: str) -> tuple[str, dict[str, Any]]:
    """Take the pool options out of the URL's query; the rest goes to asyncpg."""
    parts = urlsplit(url)
    options: dict[str, Any] = {}
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        kind = _POOL_OPTIONS.get(key)
        if kind is None:
            rest.append((key, value))
            continue
        try:
            options[key] = kind(value)
        except ValueError:
            raise ConfigError(f"HUB_DATABASE_URL: cannot use {key}={value!r}") from None
    return urlunsplit(parts._replace(query=urlencode(rest))), options


# -- SQL --------------------------------------------------------------------
@functools.lru_cache(maxsize=2048)
def translate_placeholders(sql: str) -> str:
    """``?`` → ``$1``, ``$2``, … outside quoted strings, identifiers and comments."""
    out: list[str] = []
    n = 0
    i, end = 0, len(sql)
    while i < end:
        ch = sql[i]
        if ch in "'\"":
            j = sql.find(ch, i + 1)
            j = end if j < 0 else j + 1
            out.append(sql[i:j])
            i = j
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = end if j < 0 else j
            out.append(sql[i:j])
            i = j
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _rowcount(status: str) -> int:
    """Rows changed by a statement from its status (``INSERT 0 3`` → 3); -1 when none."""
    verb, _, rest = status.partition(" ")
    if verb in {"INSERT", "UPDATE", "DELETE", "MERGE"}:
        last = rest.rpartition(" ")[2]
        return int(last) if last.isdigit() else -1
    return -1


class _Conn(InTransaction):
    """A :class:`Database` on one connection: the inside of ``transaction()``."""

    dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        return _rowcount(await self._conn.execute(translate_placeholders(sql), *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(translate_placeholders(sql), list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._conn.fetch(translate_placeholders(sql), *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self._conn.fetchrow(translate_placeholders(sql), *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._conn.fetchval(translate_placeholders(sql), *args)


class PostgresDatabase:
    """Implements :class:`hub.core.interfaces.Database` on an asyncpg pool."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self._dsn, self._options = _pool_options(url)
        self.server = _server_name(url)
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        options = {"min_size": 1, "max_size": 10, **self._options}
        connect_timeout = options.pop("connect_timeout", 10.0)
        try:
            self._pool = await asyncpg.create_pool(self._dsn, timeout=connect_timeout, **options)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise DatabaseUnavailableError(
                f"cannot connect to PostgreSQL at {self.server}: {reason}"
            ) from exc

    async def connect(self, **server_settings: str) -> asyncpg.Connection:
        """A connection outside the pool (the caller closes it)."""
        options = {k: v for k, v in self._options.items() if k in {"statement_cache_size"}}
        return await asyncpg.connect(
            self._dsn,
            timeout=self._options.get("connect_timeout", 10.0),
            server_settings=server_settings or None,
            **options,
        )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database is not open")
        return self._pool

    async def execute(self, sql: str, *args: Any) -> int:
        return _rowcount(await self.pool.execute(translate_placeholders(sql), *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.pool.executemany(translate_placeholders(sql), list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self.pool.fetch(translate_placeholders(sql), *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self.pool.fetchrow(translate_placeholders(sql), *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.pool.fetchval(translate_placeholders(sql), *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield _Conn(conn)

    async def migrate(self, component: str, steps: Sequence[Migration]) -> list[int]:
        applied: list[int] = []
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1, 1)", _LOCK_NS)
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS hub_migrations (component TEXT NOT NULL, "
                    "version INTEGER NOT NULL, applied_at BIGINT NOT NULL, "
                    "PRIMARY KEY (component, version))"
                )
            done = await self._applied(conn, component)
            for version, step in enumerate(steps, start=1):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1, 1)", _LOCK_NS)
                    if version in await self._applied(conn, component):
                        continue  # another process applied it meanwhile
                    await conn.execute(script_for(step, self.dialect))
                    await conn.execute(
                        "INSERT INTO hub_migrations VALUES "
                        "($1, $2, extract(epoch FROM now())::bigint)",
                        component,
                        version,
                    )
                applied.append(version)
        return applied

    @staticmethod
    async def _applied(conn: asyncpg.Connection, component: str) -> set[int]:
        rows = await conn.fetch(
            "SELECT version FROM hub_migrations WHERE component = $1", component
        )
        return {r[0] for r in rows}


def _message(channel: str, epoch: str, r: Row) -> ArchivedMessage:
    return ArchivedMessage(channel, epoch, r[2], r[3], r[4], r[5], r[6])


class PostgresStore:
    """Implements :class:`hub.core.interfaces.Store` on PostgreSQL."""

    def __init__(self, url: str) -> None:
        self._db = PostgresDatabase(url)
        self._default_epoch = ""
        self._crashed = False
        self._run_key = 0
        self._guard: asyncpg.Connection | None = None
        self._write_failed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PostgresStore:
        """From ``HUB_DATABASE_URL``: ``postgresql://user:pw@host:5432/db?max_size=20``
        (pool options in the query: ``min_size``, ``max_size``, ``command_timeout``,
        ``connect_timeout``, ``statement_cache_size``)."""
        return cls(settings.effective_database_url)

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
    async def open(self) -> None:
        await self._db.open()
        try:
            await self._db.migrate("hub", _ENGINE_MIGRATIONS)
            self._guard = await self._db.connect(**_GUARD_SETTINGS)
            self._run_key = await self._claim_run_key(self._guard)
            self._default_epoch, self._crashed = await self._open_run()
        except BaseException:
            await self.abort()
            raise
        log.info("PostgreSQL store at %s", self._db.server)

    @staticmethod
    async def _claim_run_key(guard: asyncpg.Connection) -> int:
        while True:
            key = secrets.randbits(31)
            if await guard.fetchval("SELECT pg_try_advisory_lock($1, $2)", _RUN_NS, key):
                return key

    async def _open_run(self) -> tuple[str, bool]:
        mine = f"running:{self._run_key}"
        async with self._db.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, 2)", _LOCK_NS)
            meta = {r[0]: r[1] for r in await conn.fetch("SELECT key, value FROM hub_meta")}
            dead: list[str] = []
            for key in meta:
                if not key.startswith("running:"):
                    continue
                # A stale marker with our own key is a dead run's: we only now add ours.
                if key == mine or await conn.fetchval(
                    "SELECT pg_try_advisory_xact_lock($1, $2)", _RUN_NS, int(key[8:])
                ):
                    dead.append(key)
            crashed = bool(dead)
            epoch = meta.get("epoch")
            if dead:
                await conn.execute("DELETE FROM hub_meta WHERE key = ANY($1::text[])", dead)
            if epoch is None or crashed:
                epoch = secrets.token_hex(4)
                await conn.execute(
                    "INSERT INTO hub_meta VALUES ('epoch', $1) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    epoch,
                )
            if crashed:
                # Offsets handed out but never committed may be handed out again:
                # a new epoch tells every client that recovers to reload instead.
                await conn.execute(
                    "UPDATE hub_channels SET epoch = "
                    "substr(md5(random()::text || clock_timestamp()::text || name), 1, 8)"
                )
            await conn.execute("INSERT INTO hub_meta VALUES ($1, '1')", mine)
        return epoch, crashed

    async def close(self) -> None:
        """Mark this run stopped cleanly (unless a write of the archive failed: then the
        next start treats it as a crash and changes the epochs), close every connection."""
        if self._guard is not None and not self._write_failed:
            await self._db.execute("DELETE FROM hub_meta WHERE key = ?", f"running:{self._run_key}")
        await self.abort()

    async def abort(self) -> None:
        """Close every connection without marking the run stopped: what a crash leaves."""
        guard, self._guard = self._guard, None
        if guard is not None:
            await guard.close()
        await self._db.close()

    async def ping(self) -> None:
        await self._db.fetchval("SELECT 1")

    # -- channels ----------------------------------------------------------
    async def load_channel(self, channel: str, limit: int, min_ts: int) -> ChannelSnapshot | None:
        rows = await self._db.pool.fetch(_LOAD_SQL, channel, min_ts, limit)
        if not rows:
            return None
        epoch, top = rows[0][0], rows[0][1]
        recent = [_message(channel, epoch, r) for r in reversed(rows) if r[2] is not None]
        return ChannelSnapshot(epoch, top, recent)

    async def write_messages(self, batch: Sequence[ArchivedMessage]) -> None:
        """One statement (so one transaction): the messages, then the channels' tops."""
        if not batch:
            return
        try:
            await self._write(batch)
        except BaseException:
            self._write_failed = True  # offsets were handed out that the store lacks
            raise

    async def _write(self, batch: Sequence[ArchivedMessage]) -> None:
        tops: dict[str, tuple[str, int]] = {}
        for m in batch:
            prev = tops.get(m.channel)
            if prev is None or m.offset > prev[1]:
                tops[m.channel] = (m.epoch, m.offset)
        await self._db.pool.execute(
            _WRITE_SQL,
            [m.channel for m in batch],
            [m.offset for m in batch],
            [m.ts for m in batch],
            [m.from_ for m in batch],
            [m.data_json for m in batch],
            [m.idem for m in batch],
            list(tops),
            [epoch for epoch, _ in tops.values()],
            [top for _, top in tops.values()],
        )

    async def read_messages(
        self, channel: str, *, after: int | None, before: int | None, limit: int
    ) -> list[ArchivedMessage]:
        if after is not None:
            rows = await self._db.pool.fetch(_AFTER_SQL, channel, after, limit)
        else:
            bound = before if before is not None else 1 << 62
            rows = await self._db.pool.fetch(_BEFORE_SQL, channel, bound, limit)
            rows.reverse()
        if not rows:
            return []
        epoch = rows[0][0]
        return [_message(channel, epoch, r) for r in rows if r[2] is not None]

    async def trim(self, older_than_ts: int) -> int:
        """Delete archived messages older than ``older_than_ts`` (ms); returns how many."""
        return await self._db.execute("DELETE FROM hub_messages WHERE ts < ?", older_than_ts)
