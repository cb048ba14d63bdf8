"""The receipt book: receipt changes by group commit.

Changes submitted during one loop turn are written in one transaction: the
current ranks are read once per notice, forward moves become ``state`` events in
the ledger (executemany) and updates of the projection; then each change is
pushed as ``{"push": "receipt", …}`` on ``notice:<id>`` (``publish_control``).
States never go backwards and repeating a change is harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from channels.notices import ledger
from channels.notices.states import ReceiptState
from hub.core.interfaces import Database
from hub.protocol.errors import Code, HubError
from hub.store.batch import BatchWriter

__all__ = ["Change", "ReceiptBook"]

Push = Callable[[str, dict[str, Any]], Awaitable[None]]
Listener = Callable[[str, str, int], None]
_CHUNK: Final = 500
_COLS: Final = {1: "delivered_at", 2: "read_at", 3: "acked_at"}


@dataclass(slots=True)
class Change:
    notice: str
    member: str
    rank: int
    channel: str
    ts: int
    detail: dict[str, Any] = field(default_factory=dict)
    result: int = -1  # the rank after the change
    changed: bool = False
    error: HubError | None = None


class ReceiptBook:
    def __init__(
        self, database: Callable[[], Database], push: Push, spawn: Callable[[Any], Any]
    ) -> None:
        self._database = database
        self._push = push
        self._spawn = spawn
        self.listeners: list[Listener] = []
        self._writer: BatchWriter[Change] = BatchWriter(self._write, max_batch=10000)

    async def record(self, change: Change) -> Change:
        """Apply one change (waits for its batch's commit); raises 113 when the member
        is not a recipient or the notice is unknown or recalled."""
        try:
            fut = self._writer.submit(change)
        except RuntimeError:
            raise HubError(Code.UNAVAILABLE, "shutting down, retry") from None
        await asyncio.shield(fut)
        if change.error is not None:
            raise change.error
        return change

    async def close(self) -> None:
        await self._writer.close()

    async def _write(self, batch: Sequence[Change]) -> None:
        by_notice: dict[str, list[Change]] = {}
        for ch in batch:
            by_notice.setdefault(ch.notice, []).append(ch)
        db = self._database()
        async with db.transaction() as tx:
            for notice, changes in by_notice.items():
                await self._apply(tx, notice, changes)
        for ch in batch:
            if ch.changed:
                state = ReceiptState.of_rank(ch.result).value
                push = {
                    "push": "receipt",
                    "notice": ch.notice,
                    "member": ch.member,
                    "state": state,
                    "ts": ch.ts,
                }
                self._spawn(self._push(f"notice:{ch.notice}", push))
                for listener in self.listeners:
                    listener(ch.notice, ch.member, ch.result)

    async def _apply(self, tx: Database, notice: str, changes: list[Change]) -> None:
        await ledger.lock(tx, notice)  # other processes' changes of this notice wait
        row = await tx.fetchrow("SELECT recalled_at FROM ntc_notices WHERE id = ?", notice)
        if row is None or row["recalled_at"] is not None:
            err = HubError(Code.NOT_FOUND, f"通知 {notice} 不存在或已撤回")
            for ch in changes:
                ch.error = err
            return
        members = list({ch.member for ch in changes})
        ranks: dict[str, int] = {}
        for i in range(0, len(members), _CHUNK):
            part = members[i : i + _CHUNK]
            rows = await tx.fetch(
                "SELECT member, rank FROM ntc_receipts WHERE notice = ? AND member IN ("
                + ", ".join("?" * len(part))
                + ")",
                notice,
                *part,
            )
            ranks.update({r["member"]: int(r["rank"]) for r in rows})
        events: list[ledger.Event] = []
        final: dict[str, Change] = {}
        for ch in changes:
            cur = ranks.get(ch.member)
            if cur is None:
                ch.error = HubError(Code.NOT_FOUND, f"{ch.member} 不是通知 {notice} 的接收人")
                continue
            if ch.rank > cur:
                ranks[ch.member] = ch.rank
                ch.changed = True
                final[ch.member] = ch
                events.append(
                    ledger.Event(
                        ch.member,
                        "state",
                        ch.ts,
                        ReceiptState.of_rank(ch.rank).value,
                        ch.channel,
                        ch.detail,
                    )
                )
            ch.result = ranks[ch.member]
        if not events:
            return
        await tx.executemany(
            "UPDATE ntc_receipts SET rank = ?, channel = ?, "
            "delivered_at = COALESCE(delivered_at, ?), read_at = COALESCE(read_at, ?), "
            "acked_at = COALESCE(acked_at, ?) WHERE notice = ? AND member = ? AND rank < ?",
            [
                (
                    ch.rank,
                    ch.channel,
                    ch.ts,
                    ch.ts if ch.rank >= ReceiptState.READ.rank else None,
                    ch.ts if ch.rank >= ReceiptState.ACKED.rank else None,
                    notice,
                    ch.member,
                    ch.rank,
                )
                for ch in final.values()
            ],
        )
        await ledger.append(tx, notice, events)
