"""Notices: create (stored with one receipt per recipient before the first push),
deliver on ``member:<id>``, catch up at connect, remind, recall, counts and roll-up.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import orjson

from channels.directory.service import Directory
from channels.notices import ledger
from channels.notices.audience import resolve
from channels.notices.model import RANK, STATES, Draft, Notice
from channels.notices.receipts import Change, ReceiptBook
from hub.core.interfaces import Database, Row
from hub.core.node import Node
from hub.protocol.errors import Code, HubError

__all__ = ["Clock", "Notices", "notice_from_row"]

log = logging.getLogger("channels.notices")

Clock = Callable[[], float]  # wall time in seconds (injectable: tests control time)
RecallListener = Callable[[Notice], Awaitable[None]]
_COLS: Final = (
    "id, kind, sender, title, body, attachments, audience, require_ack, deadline, "
    "classification, urgency, policy, recipients, created_at, recalled_at, recalled_by"
)
_CATCH_UP: Final = 100


def notice_from_row(r: Row) -> Notice:
    return Notice(
        id=r["id"],
        kind=r["kind"],
        sender=r["sender"],
        title=r["title"],
        body=r["body"],
        attachments=orjson.loads(r["attachments"]),
        audience=orjson.loads(r["audience"]),
        require_ack=bool(r["require_ack"]),
        deadline=r["deadline"],
        classification=r["classification"],
        urgency=r["urgency"],
        policy=orjson.loads(r["policy"]),
        recipients=int(r["recipients"]),
        created_at=int(r["created_at"]),
        recalled_at=None if r["recalled_at"] is None else int(r["recalled_at"]),
        recalled_by=r["recalled_by"],
    )


def _new_id(prefix: str, now_ms: int) -> str:
    return f"{prefix}{now_ms:x}{secrets.token_hex(3)}"


class Notices:
    def __init__(
        self,
        node: Node,
        database: Callable[[], Database],
        directory: Directory,
        clock: Clock = time.time,
    ) -> None:
        self.node = node
        self._database = database
        self.directory = directory
        self.clock = clock
        self.receipts = ReceiptBook(database, node.broker.publish_control, node.spawn)
        self.recall_listeners: list[RecallListener] = []
        # run inside the creating transaction (the escalation ladder's due times)
        self.create_hooks: list[Callable[[Database, Notice], Awaitable[None]]] = []
        self._senders: dict[str, str] = {}

    @property
    def db(self) -> Database:
        return self._database()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- reading ---------------------------------------------------------------------
    async def get(self, notice_id: str) -> Notice:
        r = await self.db.fetchrow(f"SELECT {_COLS} FROM ntc_notices WHERE id = ?", notice_id)
        if r is None:
            raise HubError(Code.NOT_FOUND, f"通知“{notice_id}”不存在")
        return notice_from_row(r)

    async def watchers(self, notice_id: str) -> set[str]:
        """Who may subscribe ``notice:<id>``: the sender and the directory's admins."""
        sender = self._senders.get(notice_id)
        if sender is None:
            sender = await self.db.fetchval(
                "SELECT sender FROM ntc_notices WHERE id = ?", notice_id
            )
            if sender is not None:
                self._senders[notice_id] = sender
        admins = await self.directory.admins()
        return admins | ({sender} if sender else set())

    # -- creating and delivering ---------------------------------------------------------
    async def create(self, draft: Draft) -> tuple[Notice, list[str], bool]:
        """Store the notice and its receipts; returns (notice, recipients, created).
        A repeated idempotency key returns the first notice, ``created`` False."""
        if draft.idem is not None:
            existing = await self._by_idem(draft.sender, draft.idem)
            if existing is not None:
                return existing, [], False
        recipients = await resolve(self.db, draft.audience)
        if not recipients:
            raise HubError(Code.BAD_REQUEST, "该范围内没有接收人")
        now = self.now_ms()
        n = Notice(
            id=_new_id("n" if draft.kind == "notice" else "a", now),
            kind=draft.kind,
            sender=draft.sender,
            title=draft.title,
            body=draft.body,
            attachments=draft.attachments,
            audience=draft.audience.to_json(),
            require_ack=draft.require_ack,
            deadline=draft.deadline,
            classification=draft.classification,
            urgency=draft.urgency,
            policy=draft.policy,
            recipients=len(recipients),
            created_at=now,
        )
        members = [m for m, _ in recipients]
        try:
            async with self.db.transaction() as tx:
                await self._insert(tx, n, draft.idem, recipients)
                for hook in self.create_hooks:
                    await hook(tx, n)
        except Exception:
            if draft.idem is not None:  # a concurrent request with the same key won
                existing = await self._by_idem(draft.sender, draft.idem)
                if existing is not None:
                    return existing, [], False
            raise
        self._senders[n.id] = n.sender
        return n, members, True

    async def _by_idem(self, sender: str, idem: str) -> Notice | None:
        r = await self.db.fetchrow(
            f"SELECT {_COLS} FROM ntc_notices WHERE sender = ? AND idem = ?", sender, idem
        )
        return None if r is None else notice_from_row(r)

    async def _insert(
        self, tx: Database, n: Notice, idem: str | None, recipients: Sequence[tuple[str, str]]
    ) -> None:
        await tx.execute(
            f"INSERT INTO ntc_notices ({_COLS}, idem) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?)",
            n.id,
            n.kind,
            n.sender,
            n.title,
            n.body,
            orjson.dumps(n.attachments).decode(),
            orjson.dumps(n.audience).decode(),
            1 if n.require_ack else 0,
            n.deadline,
            n.classification,
            n.urgency,
            orjson.dumps(n.policy).decode(),
            n.recipients,
            n.created_at,
            None,
            None,
            idem,
        )
        await tx.executemany(
            "INSERT INTO ntc_receipts (notice, member, unit, rank) VALUES (?, ?, ?, 0)",
            [(n.id, m, u) for m, u in recipients],
        )
        detail = {
            "title": n.title,
            "kind": n.kind,
            "classification": n.classification,
            "recipients": len(recipients),
            "recipients_sha256": ledger.recipients_digest([m for m, _ in recipients]),
        }
        await ledger.append(
            tx,
            n.id,
            [
                ledger.Event(
                    None,
                    "created",
                    n.created_at,
                    channel="api",
                    detail={**detail, "sender": n.sender},
                )
            ],
        )

    def _connected_first(self, members: Sequence[str]) -> tuple[list[str], list[str]]:
        here = [m for m in members if self.node.connections_of(m)]
        if not here:
            return [], list(members)
        seen = set(here)
        return here, [m for m in members if m not in seen]

    async def publish_to(
        self,
        members: Sequence[str],
        data: dict[str, Any],
        idem: str | None,
        *,
        wait_all: bool = True,
    ) -> None:
        """Publish ``data`` on each ``member:<id>``, the members connected here first.
        Returns once those are durable; the others too with ``wait_all``, else they
        go out in a background task (they are stored already: catch-up covers them)."""
        first, rest = self._connected_first(members)
        await self._publish(first, data, idem)
        if wait_all:
            await self._publish(rest, data, idem)
        elif rest:
            self.node.spawn(self._publish(rest, data, idem))

    async def _publish(
        self, members: Sequence[str], data: dict[str, Any], idem: str | None
    ) -> None:
        pending: list[asyncio.Future[None]] = []
        for i, m in enumerate(members):
            res = await self.node.publish(None, f"member:{m}", data, idem, wait=False)
            if res.committed is not None and not res.committed.done():
                pending.append(res.committed)
            if i % 500 == 499:
                await asyncio.sleep(0)  # let this turn's frames leave
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def deliver(self, n: Notice, members: Sequence[str]) -> None:
        data = {"kind": n.kind, "notice": n.payload()}
        await self.publish_to(members, data, f"notice:{n.id}", wait_all=len(members) <= 1000)

    # -- catch-up at connect ---------------------------------------------------------------
    async def unsigned(self, member: str) -> list[dict[str, Any]]:
        """The member's notices still not signed (not read, when no ack is required),
        newest first, at most 100: the ``unsigned`` field of the connect reply."""
        rows = await self.db.fetch(
            f"SELECT r.rank AS rrank, {', '.join('n.' + c.strip() for c in _COLS.split(','))} "
            "FROM ntc_receipts r JOIN ntc_notices n ON n.id = r.notice "
            "WHERE r.member = ? AND r.rank < 3 AND n.recalled_at IS NULL "
            "AND (n.require_ack = 1 OR r.rank < 2) ORDER BY n.created_at DESC LIMIT ?",
            member,
            _CATCH_UP,
        )
        out = []
        for r in rows:
            n = notice_from_row(r)
            out.append({"kind": n.kind, "notice": n.payload(), "state": STATES[int(r["rrank"])]})
        return out

    # -- receipts ---------------------------------------------------------------------------
    async def set_state(
        self,
        notice: str,
        member: str,
        state: str,
        channel: str,
        detail: dict[str, Any] | None = None,
    ) -> Change:
        change = Change(notice, member, RANK[state], channel, self.now_ms(), detail or {})
        return await self.receipts.record(change)

    # -- remind and recall --------------------------------------------------------------------
    async def remind(self, notice_id: str, by: str) -> list[str]:
        n = await self.get(notice_id)
        if n.recalled_at is not None:
            raise HubError(Code.BAD_REQUEST, "通知已撤回，不能提醒")
        top = 3 if n.require_ack else 2
        rows = await self.db.fetch(
            "SELECT member FROM ntc_receipts WHERE notice = ? AND rank < ? ORDER BY member",
            n.id,
            top,
        )
        members = [r["member"] for r in rows]
        if not members:
            return []
        async with self.db.transaction() as tx:
            await ledger.append(
                tx,
                n.id,
                [
                    ledger.Event(
                        None,
                        "remind",
                        self.now_ms(),
                        channel="api",
                        detail={"by": by, "members": members},
                    )
                ],
            )
        await self.publish_to(members, {"kind": "remind", "notice": n.payload()}, None)
        return members

    async def recall(self, notice_id: str, by: str) -> dict[str, Any]:
        n = await self.get(notice_id)
        if n.recalled_at is not None:
            return {
                "notice": n.id,
                "recalled_at": n.recalled_at,
                "read_by": await self._read_by(n.id),
                "already": True,
            }
        now = self.now_ms()
        async with self.db.transaction() as tx:
            await ledger.lock(tx, n.id)
            changed = await tx.execute(
                "UPDATE ntc_notices SET recalled_at = ?, recalled_by = ? WHERE id = ? AND "
                "recalled_at IS NULL",
                now,
                by,
                n.id,
            )
            read_by = await self._read_by(n.id, tx)
            if changed:
                await ledger.append(
                    tx,
                    n.id,
                    [
                        ledger.Event(
                            None,
                            "recall",
                            now,
                            channel="api",
                            detail={"by": by, "read_by": read_by},
                        )
                    ],
                )
        n.recalled_at, n.recalled_by = now, by
        rows = await self.db.fetch("SELECT member FROM ntc_receipts WHERE notice = ?", n.id)
        payload = {"id": n.id, "title": n.title, "from": n.sender, "recalled_at": now}
        await self.publish_to(
            [r["member"] for r in rows], {"kind": "recall", "notice": payload}, f"recall:{n.id}"
        )
        for listener in self.recall_listeners:
            try:
                await listener(n)
            except Exception:
                log.exception("recall listener failed")
        return {"notice": n.id, "recalled_at": now, "read_by": read_by, "already": False}

    async def _read_by(self, notice_id: str, db: Database | None = None) -> list[str]:
        rows = await (db or self.db).fetch(
            "SELECT member FROM ntc_receipts WHERE notice = ? AND rank >= 2 ORDER BY member",
            notice_id,
        )
        return [r["member"] for r in rows]

    # -- counts and roll-up -----------------------------------------------------------------
    async def counts(self, notice_id: str) -> dict[str, int]:
        rows = await self.db.fetch(
            "SELECT rank, COUNT(*) AS n FROM ntc_receipts WHERE notice = ? GROUP BY rank", notice_id
        )
        counts = dict.fromkeys(STATES, 0)
        for r in rows:
            counts[STATES[int(r["rank"])]] = int(r["n"])
        return counts

    async def rollup(self, notice_id: str) -> list[dict[str, Any]]:
        """Counts by state for every unit on the way from a recipient's unit to the
        root: each unit counts its own recipients and those of all its sub-units."""
        rows = await self.db.fetch(
            "SELECT unit, rank, COUNT(*) AS n FROM ntc_receipts WHERE notice = ? GROUP BY "
            "unit, rank",
            notice_id,
        )
        totals: dict[str, dict[str, int]] = {}
        for r in rows:
            for unit in await self.directory.ancestors(r["unit"]) or (r["unit"],):
                c = totals.setdefault(unit, dict.fromkeys(STATES, 0))
                c[STATES[int(r["rank"])]] += int(r["n"])
        if not totals:
            return []
        names = {
            r["id"]: (r["name"], r["parent"])
            for r in await self.db.fetch("SELECT id, name, parent FROM dir_units")
        }
        out = []
        for unit, c in totals.items():
            name, parent = names.get(unit, (unit, None))
            total = sum(c.values())
            out.append(
                {
                    "unit": unit,
                    "name": name,
                    "parent": parent,
                    "total": total,
                    "counts": c,
                    "signed": c["acked"],
                    "unsigned": total - c["acked"],
                }
            )
        depth = {u["unit"]: len(self._chain(u["unit"], names)) for u in out}
        out.sort(key=lambda u: (depth[u["unit"]], u["unit"]))
        return out

    @staticmethod
    def _chain(unit: str, names: dict[str, tuple[str, str | None]]) -> list[str]:
        chain: list[str] = []
        cur: str | None = unit
        while cur is not None and cur not in chain and len(chain) < 64:
            chain.append(cur)
            cur = names.get(cur, ("", None))[1]
        return chain
