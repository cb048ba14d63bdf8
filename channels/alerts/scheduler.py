"""The durable escalation scheduler.

Due times live in ``alr_rungs``; :meth:`Escalator.tick` runs every rung whose
time has come. A rung is claimed with a lease (``owner``, ``lease_until``): on
PostgreSQL the due rows are picked with ``SELECT … FOR UPDATE SKIP LOCKED`` and
leased in the same transaction; on SQLite a conditional ``UPDATE`` takes the
lease. So with several processes each rung runs once; after a crash another
process takes the rung over when the lease expires and skips the members who
already have an attempt for it (the attempt row is written before the send):
no rung lost, none repeated.

The lease (``HUB_ESCALATION_LEASE``) is renewed while a rung runs — between
members, and by a heartbeat every third of the lease while one send is in
flight — so a slow provider never lets a live scheduler's rung be taken over;
a scheduler that finds its lease gone stops the rung. An attempt left
``sending`` by a process that died mid-send is resolved by the scheduler that
takes the rung over (:meth:`Outbox.resolve_interrupted`: ``unknown``, not
resent), and the ladder goes on. The clock is injectable: tests move time and
call :meth:`tick`, nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from adapters import masked_logger
from channels.alerts.delivery import Outbox
from channels.alerts.prefs import Prefs, Quiet, quiet_until, take_sms
from channels.notices.model import Notice
from channels.notices.service import Notices
from channels.notices.states import ReceiptState
from hub.core.interfaces import Database, Row, backend_unavailable
from hub.protocol.errors import HubError

__all__ = ["Escalator"]

DEFAULT_QUIET = Quiet(22 * 60, 7 * 60)  # 22:00–07:00 China time

log = masked_logger("channels.alerts.scheduler")

_BATCH: Final = 50
_PARALLEL: Final = 16


@dataclass(slots=True)
class _Lease:
    """The lease this scheduler holds on one ``alr_rungs`` row while running it."""

    notice: str
    rung: int
    member: str
    renewed_at: int
    lost: bool = False


class Escalator:
    def __init__(
        self,
        notices: Notices,
        outbox: Outbox,
        *,
        owner: str | None = None,
        lease: float = 120.0,
        poll: float | None = 1.0,
        quiet: Quiet | None = DEFAULT_QUIET,
        sms_daily_cap: int = 5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.notices = notices
        self.outbox = outbox
        self.owner = owner or f"{notices.node.node_id}.{secrets.token_hex(3)}"
        self.lease_ms = int(lease * 1000)
        # renew when a third of the lease has passed: two renewals may fail or be
        # late before another scheduler could take the rung over
        self.renew_ms = max(1, self.lease_ms // 3)
        self.poll = poll
        self._sleep = sleep
        self.default_prefs = Prefs(quiet, sms_daily_cap)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def db(self) -> Database:
        return self.notices.db

    # -- scheduling (inside the notice's creating transaction) ---------------------------
    async def schedule(self, tx: Database, n: Notice) -> None:
        ladder = n.policy.get("ladder") or []
        rows = [
            (
                n.id,
                i,
                "",
                step["via"],
                int(n.policy["until_rank"]),
                n.created_at + int(step["after_ms"]),
            )
            for i, step in enumerate(ladder)
        ]
        if rows:
            await tx.executemany(
                "INSERT INTO alr_rungs (notice, rung, member, via, until_rank, due_at) VALUES "
                "(?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._wake.set()

    async def pending(self, notice: str) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT rung, member, via, due_at, done_at, owner FROM alr_rungs WHERE notice = ? "
            "ORDER BY rung, member",
            notice,
        )
        return [dict(r) for r in rows]

    # -- running ------------------------------------------------------------------------
    def start(self) -> None:
        if self.poll is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        assert self.poll is not None
        while True:
            try:
                await self.tick()
            except Exception as exc:
                if backend_unavailable(exc):  # the store is out of reach: the next tick retries
                    log.warning("escalation tick skipped: store unavailable: %r", exc)
                else:
                    log.exception("escalation tick failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    async def tick(self) -> int:
        """Run every rung that is due now; returns how many ran."""
        ran = 0
        while True:
            claimed = await self._claim(self.notices.now_ms())
            if not claimed:
                return ran
            for row in claimed:
                await self._run(row)
                ran += 1

    async def _claim(self, now: int) -> list[Row]:
        select = (
            "SELECT notice, rung, member, via, until_rank FROM alr_rungs WHERE done_at IS NULL "
            "AND due_at <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY due_at LIMIT ?"
        )
        lease = (
            "UPDATE alr_rungs SET owner = ?, lease_until = ? WHERE notice = ? AND rung = ? "
            "AND member = ? "
            "AND done_at IS NULL AND (lease_until IS NULL OR lease_until < ?)"
        )
        got: list[Row] = []
        if self.db.dialect == "postgresql":
            async with self.db.transaction() as tx:
                rows = await tx.fetch(select + " FOR UPDATE SKIP LOCKED", now, now, _BATCH)
                for r in rows:
                    await tx.execute(
                        lease,
                        self.owner,
                        now + self.lease_ms,
                        r["notice"],
                        r["rung"],
                        r["member"],
                        now,
                    )
                return list(rows)
        for r in await self.db.fetch(select, now, now, _BATCH):
            if await self.db.execute(
                lease, self.owner, now + self.lease_ms, r["notice"], r["rung"], r["member"], now
            ):
                got.append(r)
        return got

    async def _run(self, row: Row) -> None:
        notice, rung, member = str(row["notice"]), int(row["rung"]), str(row["member"])
        via, until = str(row["via"]), int(row["until_rank"])
        lease = _Lease(notice, rung, member, self.notices.now_ms())
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(lease))
        try:
            # a previous holder's lease ran out: its sends in flight are unknown
            await self.outbox.resolve_interrupted(notice, rung, member)
            try:
                n = await self.notices.get(notice)
            except HubError:
                n = None
            if n is not None and n.recalled_at is None:
                for m in await self._targets(notice, rung, member, until):
                    if not await self._keep(lease):
                        break
                    await self._one(n, m, rung, via, until)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        if lease.lost:
            log.warning(
                "escalation lease on notice %s rung %d was lost; another scheduler goes on",
                notice,
                rung,
            )
            return
        await self.db.execute(
            "UPDATE alr_rungs SET done_at = ?, lease_until = NULL WHERE notice = ? AND rung = ? "
            "AND member = ? AND owner = ?",
            self.notices.now_ms(),
            notice,
            rung,
            member,
            self.owner,
        )

    async def _renew(self, lease: _Lease) -> bool:
        """Extend the lease from now; False (and ``lost``) when it is no longer ours."""
        now = self.notices.now_ms()
        held = await self.db.execute(
            "UPDATE alr_rungs SET lease_until = ? WHERE notice = ? AND rung = ? AND member = ? "
            "AND owner = ? AND done_at IS NULL",
            now + self.lease_ms,
            lease.notice,
            lease.rung,
            lease.member,
            self.owner,
        )
        lease.renewed_at = now
        if not held:
            lease.lost = True
        return bool(held)

    async def _keep(self, lease: _Lease) -> bool:
        """Before each member: renew when a third of the lease has passed."""
        if lease.lost:
            return False
        if self.notices.now_ms() - lease.renewed_at >= self.renew_ms:
            return await self._renew(lease)
        return True

    async def _heartbeat(self, lease: _Lease) -> None:
        """Renew every third of the lease while a send takes long (a slow provider)."""
        while not lease.lost:
            await self._sleep(self.renew_ms / 1000)
            try:
                await self._renew(lease)
            except Exception:
                log.exception("renewing the escalation lease failed")

    async def _targets(self, notice: str, rung: int, member: str, until: int) -> list[str]:
        below = await self.notices.members_below(
            notice, ReceiptState.of_rank(until), member or None
        )
        done = {
            r["member"]
            for r in await self.db.fetch(
                "SELECT member FROM ntc_attempts WHERE notice = ? AND rung = ? AND status <> "
                "'deferred'",
                notice,
                rung,
            )
        }
        if not member:  # members deferred past their quiet hours have their own row
            done.update(
                r["member"]
                for r in await self.db.fetch(
                    "SELECT member FROM alr_rungs WHERE notice = ? AND rung = ? AND member <> ''",
                    notice,
                    rung,
                )
            )
        return [m for m in below if m not in done]

    async def prefs(self, member: str) -> Prefs:
        r = await self.db.fetchrow(
            "SELECT quiet_start, quiet_end, sms_daily_cap FROM alr_prefs WHERE member = ?", member
        )
        if r is None:
            return self.default_prefs
        quiet = (
            None if r["quiet_start"] is None else Quiet(int(r["quiet_start"]), int(r["quiet_end"]))
        )
        cap = (
            self.default_prefs.sms_daily_cap
            if r["sms_daily_cap"] is None
            else int(r["sms_daily_cap"])
        )
        return Prefs(quiet, cap)

    async def _one(self, n: Notice, member: str, rung: int, via: str, until: int) -> None:
        now = self.notices.now_ms()
        if via == "sms":
            prefs = await self.prefs(member)
            end = None if n.urgency == "urgent" else quiet_until(prefs.quiet, now)
            if end is not None:
                await self.db.execute(
                    "INSERT INTO alr_rungs (notice, rung, member, via, until_rank, due_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (notice, rung, member) DO NOTHING",
                    n.id,
                    rung,
                    member,
                    via,
                    until,
                    end,
                )
                await self.outbox.note(
                    n, member, rung, via, "deferred", {"reason": "quiet_hours", "until": end}
                )
                return
            if not await take_sms(self.db, member, prefs.sms_daily_cap, now):
                await self.outbox.note(
                    n,
                    member,
                    rung,
                    via,
                    "capped",
                    {"reason": "daily_cap", "cap": prefs.sms_daily_cap},
                )
                return
        await self.outbox.send(n, member, rung, via)
