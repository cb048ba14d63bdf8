"""The engine's seams: Broker, Presence, Store, and the handler a broker reports to.

Guarantees every implementation gives (the contract tests in
``tests/hub/test_broker_contract.py`` and ``test_store_contract.py`` check them):

* ``Broker.publish`` assigns the next offset of the channel, 1, 2, 3, … with no
  gap across every process of the hub, and hands the publication to
  ``BrokerHandler.on_publication`` of every process that subscribed the channel,
  in offset order per channel. It returns once the offset is assigned; when the
  publication is not yet as safe as the broker promises (the embedded broker: written
  to the store), ``PublishResult.committed`` is the future of that write, and the
  publisher is acknowledged only when it is done.
* A publish with an ``idem`` key seen on the channel within the recovery window
  returns the first publish's offset, marked ``duplicate``, and stores nothing.
* ``recover`` answers ``recovered=True`` only when the epoch matches and every
  message after the client's offset is still in the window.
* Payloads are Python values decoded once from the wire; brokers never decode
  or re-encode them per subscriber.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from hub.core.types import HistoryPage, Position, Publication, PublishResult, Recovery
from hub.protocol.requests import Since

__all__ = [
    "UNAVAILABLE_ERRORS",
    "ArchivedMessage",
    "Broker",
    "BrokerHandler",
    "ChannelSnapshot",
    "Database",
    "Migration",
    "Presence",
    "Row",
    "Store",
    "backend_unavailable",
]

# Errors meaning "a backend (store, broker) is out of reach": answered 108 (HTTP 503),
# not as an internal error. A store adds its driver's classes when it is imported.
UNAVAILABLE_ERRORS: list[type[BaseException]] = [OSError, TimeoutError]


def backend_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, tuple(UNAVAILABLE_ERRORS))


Row: TypeAlias = Any  # sqlite3.Row / asyncpg.Record: row["col"] and row[0] both work
Migration: TypeAlias = str | Mapping[str, str]  # one SQL script, or one per dialect


class BrokerHandler(Protocol):
    """What a broker reports to: implemented by the node, so brokers hold no node reference."""

    def on_publication(self, pub: Publication) -> None: ...

    def on_control(self, channel: str, push: dict[str, Any]) -> None:
        """A push without an offset (join/leave) published by any process."""

    def on_resubscribed(self) -> None:
        """The broker lost and regained its subscriptions: live streams may have gaps."""


class Broker(Protocol):
    async def start(self, handler: BrokerHandler) -> None: ...

    async def close(self) -> None: ...

    async def subscribe(self, channel: str) -> None:
        """Start receiving ``channel``'s publications in this process."""

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(
        self, channel: str, data: Any, data_json: bytes, from_: str | None, idem: str | None
    ) -> PublishResult: ...

    async def publish_control(self, channel: str, push: dict[str, Any]) -> None: ...

    async def position(self, channel: str) -> Position: ...

    async def recover(self, channel: str, since: Since) -> Recovery: ...

    async def history(
        self, channel: str, since: Since | None, before: int | None, limit: int
    ) -> HistoryPage:
        """Messages oldest first; raises HubError 112 when ``since`` cannot be served."""

    async def ready(self) -> bool:
        """Whether the broker can take publishes now (for /readyz)."""


class Presence(Protocol):
    """Who is subscribed where, across every process."""

    async def add(self, channel: str, member: str, client: str) -> bool:
        """Record a subscription; True when it is the member's first client in ``channel``."""

    async def remove(self, channel: str, member: str, client: str) -> bool:
        """Forget one; True when the member has no client left in ``channel``."""

    async def get(self, channel: str) -> dict[str, int]:
        """``{member: number of clients}``."""

    async def close(self) -> None: ...


@dataclass(slots=True)
class ArchivedMessage:
    """One publication as the store writes it (``data_json``: the data encoded as JSON)."""

    channel: str
    epoch: str
    offset: int
    ts: int
    from_: str | None
    data_json: bytes
    idem: str | None


@dataclass(slots=True)
class ChannelSnapshot:
    """A channel as the store knows it: its epoch, top offset and its newest messages."""

    epoch: str
    top: int
    recent: list[ArchivedMessage]


class Database(Protocol):
    """Portable SQL for the layers above the engine (the directory, notices, …).

    SQL uses ``?`` placeholders (translated to ``$n`` for PostgreSQL; never write a
    literal ``?`` in SQL text) and the common dialect of SQLite ≥ 3.35 and
    PostgreSQL: ``INSERT … ON CONFLICT … DO UPDATE``, ``RETURNING``,
    ``WITH RECURSIVE``. ``dialect`` is ``"sqlite"`` or ``"postgresql"`` for the rare
    statement that must differ.
    """

    dialect: str

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; returns the number of rows it changed."""

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...

    def transaction(self) -> AbstractAsyncContextManager[Database]:
        """``async with db.transaction() as tx:`` — all of ``tx``'s statements or none.

        Inside the block use ``tx``, never ``db``: on SQLite the database is one
        connection behind a lock that the transaction holds, so a statement on ``db``
        would wait for the transaction that waits for it."""

    async def migrate(self, component: str, steps: Sequence[Migration]) -> list[int]:
        """Apply the steps of ``component`` not applied yet (step i is version i+1),
        each in its own transaction; returns the versions applied now."""


class Store(Protocol):
    """Durable records: the channel archive (and, through the domain, everything else)."""

    @property
    def database(self) -> Database:
        """The same database, for the layers above the engine."""

    @property
    def default_epoch(self) -> str:
        """The epoch of a channel that has no row yet (changes after an unclean stop)."""

    @property
    def recovered_from_crash(self) -> bool:
        """True when opening found that the previous run did not stop cleanly."""

    async def open(self) -> None: ...

    async def close(self) -> None:
        """Flush, mark the run as stopped cleanly, close."""

    async def ping(self) -> None:
        """Raise when the store is unreachable."""

    async def load_channel(self, channel: str, limit: int, min_ts: int) -> ChannelSnapshot | None:
        """The channel's epoch, top and up to ``limit`` newest messages with ``ts >= min_ts``."""

    async def write_messages(self, batch: Sequence[ArchivedMessage]) -> None:
        """Append a batch in one transaction (offsets are unique per channel)."""

    async def read_messages(
        self, channel: str, *, after: int | None, before: int | None, limit: int
    ) -> list[ArchivedMessage]:
        """Oldest first. ``after``: the first ``limit`` with offset > after;
        else the last ``limit`` with offset < ``before`` (None: the newest)."""

    async def trim(self, older_than_ts: int) -> int:
        """Delete archived messages with ``ts`` (ms) below the bound; returns how many."""
