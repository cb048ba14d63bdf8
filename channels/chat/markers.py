"""Read markers: per member and channel, the offset read up to (monotone), and
unread counts computed from markers and channel top offsets — one row per
member and channel, never one per recipient per message."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Final

from hub.core.interfaces import Database, Migration

__all__ = ["COMPONENT", "MIGRATIONS", "ReadMarkers"]

COMPONENT: Final = "chat"

MIGRATIONS: Final[list[Migration]] = [
    """
CREATE TABLE chat_read_markers (
    member TEXT NOT NULL,
    channel TEXT NOT NULL,
    upto BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (member, channel)
);
"""
]


class ReadMarkers:
    def __init__(self, database: Callable[[], Database]) -> None:
        self._database = database

    async def mark(self, member: str, channel: str, offset: int) -> int:
        """Move the marker forward to ``offset`` (never back); returns the stored offset."""
        db = self._database()
        await db.execute(
            "INSERT INTO chat_read_markers (member, channel, upto, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (member, channel) DO UPDATE "
            "SET upto = excluded.upto, updated_at = excluded.updated_at "
            "WHERE chat_read_markers.upto < excluded.upto",
            member,
            channel,
            offset,
            int(time.time() * 1000),
        )
        return await self.get(member, channel)

    async def start_at(
        self, members: Iterable[str], channel: str, offset: int, joined_at: int | None = None
    ) -> None:
        """Set the markers of members who just joined ``channel`` to ``offset`` (its
        top at the join), back as well as forward: what was said before they joined
        is not unread for them, and a re-join starts afresh. A marker moved after
        ``joined_at`` (ms; the member read a message sent after the join) is newer
        than the join and kept."""
        now = int(time.time() * 1000)
        at = now if joined_at is None else joined_at
        rows = [(m, channel, offset, at) for m in sorted(set(members))]
        if not rows:
            return
        await self._database().executemany(
            "INSERT INTO chat_read_markers (member, channel, upto, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (member, channel) DO UPDATE "
            "SET upto = excluded.upto, updated_at = excluded.updated_at "
            "WHERE chat_read_markers.updated_at < excluded.updated_at",
            rows,
        )

    async def get(self, member: str, channel: str) -> int:
        value = await self._database().fetchval(
            "SELECT upto FROM chat_read_markers WHERE member = ? AND channel = ?", member, channel
        )
        return int(value or 0)

    async def of(self, member: str, channels: Iterable[str] | None = None) -> dict[str, int]:
        """The member's markers (all, or those of ``channels``)."""
        rows = await self._database().fetch(
            "SELECT channel, upto FROM chat_read_markers WHERE member = ?", member
        )
        wanted = None if channels is None else set(channels)
        return {
            r["channel"]: int(r["upto"]) for r in rows if wanted is None or r["channel"] in wanted
        }
