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
from channels.directory.store import SUBTREE
from channels.notices import ledger
from channels.notices.audience import Recipient, resolve
from channels.notices.model import Draft, Notice
from channels.notices.receipts import Change, ReceiptBook
from channels.notices.states import ReceiptState, at_least, below, equals
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
_IN_CHUNK: Final = 400  # ids per IN (...) list: well under every bound-parameter limit


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
        members = [m for m, _, _ in recipients]
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
        self, tx: Database, n: Notice, idem: str | None, recipients: Sequence[Recipient]
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
            "INSERT INTO ntc_receipts (notice, member, unit, home_unit, rank) "
            "VALUES (?, ?, ?, ?, 0)",
            [(n.id, m, u, home) for m, u, home in recipients],
        )
        detail = {
            "title": n.title,
            "kind": n.kind,
            "classification": n.classification,
            "recipients": len(recipients),
            "recipients_sha256": ledger.recipients_digest([m for m, _, _ in recipients]),
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
        not_acked = below(ReceiptState.ACKED, "r.rank")
        not_read = below(ReceiptState.READ, "r.rank")
        rows = await self.db.fetch(
            f"SELECT r.rank AS rrank, {', '.join('n.' + c.strip() for c in _COLS.split(','))} "
            "FROM ntc_receipts r JOIN ntc_notices n ON n.id = r.notice "
            f"WHERE r.member = ? AND {not_acked.sql} AND n.recalled_at IS NULL "
            f"AND (n.require_ack = 1 OR {not_read.sql}) ORDER BY n.created_at DESC LIMIT ?",
            member,
            *not_acked.args,
            *not_read.args,
            _CATCH_UP,
        )
        out = []
        for r in rows:
            n = notice_from_row(r)
            state = ReceiptState.of_rank(int(r["rrank"])).value
            out.append({"kind": n.kind, "notice": n.payload(), "state": state})
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
        change = Change(
            notice, member, ReceiptState(state).rank, channel, self.now_ms(), detail or {}
        )
        return await self.receipts.record(change)

    # -- queries for other components (alerts read notices here, not in the tables) -------
    async def members_below(
        self, notice_id: str, state: ReceiptState, member: str | None = None
    ) -> list[str]:
        """The recipients whose receipt is not yet at ``state``, by member id;
        ``member``: that recipient alone (or nobody)."""
        cond = below(state)
        if member is not None:
            rows = await self.db.fetch(
                f"SELECT member FROM ntc_receipts WHERE notice = ? AND member = ? AND {cond.sql}",
                notice_id,
                member,
                *cond.args,
            )
        else:
            rows = await self.db.fetch(
                f"SELECT member FROM ntc_receipts WHERE notice = ? AND {cond.sql} ORDER BY member",
                notice_id,
                *cond.args,
            )
        return [str(r["member"]) for r in rows]

    async def receipt_of(self, notice_id: str, member: str) -> tuple[ReceiptState, bool] | None:
        """The member's receipt state of the notice and whether the notice was
        recalled; None when the notice does not exist or the member is no recipient."""
        row = await self.db.fetchrow(
            "SELECT r.rank, n.recalled_at FROM ntc_receipts r JOIN ntc_notices n ON n.id = "
            "r.notice WHERE r.notice = ? AND r.member = ?",
            notice_id,
            member,
        )
        if row is None:
            return None
        return ReceiptState.of_rank(int(row["rank"])), row["recalled_at"] is not None

    async def settled(self, member: str, notice_ids: Sequence[str]) -> set[str]:
        """Which of ``notice_ids`` the member is done with for good: signed (acked)
        by them, or recalled."""
        acked = at_least(ReceiptState.ACKED)
        out: set[str] = set()
        ids = list(dict.fromkeys(notice_ids))
        for i in range(0, len(ids), _IN_CHUNK):
            part = ids[i : i + _IN_CHUNK]
            marks = ", ".join("?" * len(part))
            rows = await self.db.fetch(
                f"SELECT notice AS id FROM ntc_receipts WHERE member = ? AND {acked.sql} "
                f"AND notice IN ({marks}) UNION "
                f"SELECT id FROM ntc_notices WHERE recalled_at IS NOT NULL AND id IN ({marks})",
                member,
                *acked.args,
                *part,
                *part,
            )
            out.update(str(r["id"]) for r in rows)
        return out

    # -- remind and recall --------------------------------------------------------------------
    async def remind(self, notice_id: str, by: str) -> list[str]:
        n = await self.get(notice_id)
        if n.recalled_at is not None:
            raise HubError(Code.BAD_REQUEST, "通知已撤回，不能提醒")
        members = await self.members_below(n.id, ReceiptState.done(n.require_ack))
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
        read = at_least(ReceiptState.READ)
        rows = await (db or self.db).fetch(
            f"SELECT member FROM ntc_receipts WHERE notice = ? AND {read.sql} ORDER BY member",
            notice_id,
            *read.args,
        )
        return [r["member"] for r in rows]

    # -- counts and roll-up -----------------------------------------------------------------
    async def counts(self, notice_id: str) -> dict[str, int]:
        rows = await self.db.fetch(
            "SELECT rank, COUNT(*) AS n FROM ntc_receipts WHERE notice = ? GROUP BY rank", notice_id
        )
        counts = dict.fromkeys(ReceiptState.names(), 0)
        for r in rows:
            counts[ReceiptState.of_rank(int(r["rank"])).value] = int(r["n"])
        return counts

    async def rollup(self, notice_id: str) -> list[dict[str, Any]]:
        """Counts by state for every unit on the way from a recipient's unit to the
        root: each unit counts its own recipients and those of all its sub-units.

        A flowing member counts under the unit they are attached to and under their
        home unit (组织关系所在支部), whose audience reached them: once on each
        branch of the tree and once at the ancestors the two share. ``via_home`` is
        how many of a row's recipients it counts through their home unit only.
        Linear in the units involved: one query for the receipts, one for the tree,
        each chain walked once."""
        rows = await self.db.fetch(
            "SELECT unit, home_unit AS home, rank, COUNT(*) AS n FROM ntc_receipts "
            "WHERE notice = ? GROUP BY unit, home_unit, rank",
            notice_id,
        )
        if not rows:
            return []
        tree = {
            r["id"]: (r["name"], r["parent"])
            for r in await self.db.fetch("SELECT id, name, parent FROM dir_units")
        }
        parent_of = {u: p for u, (_, p) in tree.items()}
        own: dict[str, list[int]] = {}  # unit -> per-rank counts before the roll-up
        via: dict[str, list[int]] = {}  # unit -> per-rank counts through a home unit
        width = len(ReceiptState)

        def add(table: dict[str, list[int]], unit: str, rank: int, n: int) -> None:
            table.setdefault(unit, [0] * width)[rank] += n

        commons: dict[tuple[str, str], str | None] = {}  # (unit, home) -> first shared
        for r in rows:
            unit, home, rank, n = str(r["unit"]), r["home"], int(r["rank"]), int(r["n"])
            add(own, unit, rank, n)
            if home is None or home == unit:
                continue
            home = str(home)
            # counted once more from the home unit up to (not including) the first
            # ancestor it shares with the unit: a correction there cancels the double
            key = (unit, home)
            if key not in commons:  # once per pair, not once per (pair, rank) row
                up = set(_chain(unit, parent_of))
                commons[key] = next((u for u in _chain(home, parent_of) if u in up), None)
            common = commons[key]
            add(own, home, rank, n)
            add(via, home, rank, n)
            if common is not None:
                add(own, common, rank, -n)
                add(via, common, rank, -n)
        depth = _depths(own, parent_of)
        totals: dict[str, list[int]] = {u: [0] * width for u in depth}
        vias: dict[str, list[int]] = {u: [0] * width for u in depth}
        for unit in sorted(depth, key=lambda u: -depth[u]):  # deepest first
            for acc, table in ((totals, own), (vias, via)):
                row = acc[unit]
                for i, v in enumerate(table.get(unit, ())):
                    row[i] += v
                parent = parent_of.get(unit)
                if parent is not None and parent in acc:
                    up_row = acc[parent]
                    for i, v in enumerate(row):
                        up_row[i] += v
        out = []
        for unit, c in totals.items():
            total = sum(c)
            if total <= 0:
                continue
            name, parent = tree.get(unit, (unit, None))
            counts = dict(zip(ReceiptState.names(), c, strict=True))
            out.append(
                {
                    "unit": unit,
                    "name": name,
                    "parent": parent,
                    "total": total,
                    "counts": counts,
                    "signed": counts["acked"],
                    "unsigned": total - counts["acked"],
                    "via_home": sum(vias[unit]),
                }
            )
        out.sort(key=lambda u: (depth[u["unit"]], u["unit"]))
        return out

    async def list_receipts(
        self, notice: str, *, state: str | None, unit: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of receipts (by unit, then member) and the number matching.

        ``unit``: the receipts of that unit and its sub-units, and those of flowing
        members whose home unit is there (``via_home`` true on those rows), as in
        the roll-up. ``home_unit``: a flowing member's home unit when it is not the
        receipt's unit (the web page's roll-up counts them there too)."""
        sql, args = "", list[Any]()
        where = ["r.notice = ?"]
        via = "0"
        if unit is not None:
            sql, args = SUBTREE, [unit]
            where.append("(r.unit IN (SELECT id FROM sub) OR r.home_unit IN (SELECT id FROM sub))")
            via = "CASE WHEN r.unit IN (SELECT id FROM sub) THEN 0 ELSE 1 END"
        args.append(notice)
        if state is not None:
            named = ReceiptState.named(state)
            if state == "unsigned":
                match = below(ReceiptState.ACKED, "r.rank")
            elif named is not None:
                match = equals(named, "r.rank")
            else:
                raise HubError(
                    Code.BAD_REQUEST, "state 应为 sent、delivered、read、acked 或 unsigned"
                )
            where.append(match.sql)
            args.extend(match.args)
        cond = " WHERE " + " AND ".join(where)
        joins = (
            " FROM ntc_receipts r LEFT JOIN dir_members m ON m.id = r.member "
            "LEFT JOIN dir_units u ON u.id = r.unit"
        )
        total = await self.db.fetchval(f"{sql}SELECT COUNT(*){joins}{cond}", *args)
        rows = await self.db.fetch(
            f"{sql}SELECT r.member, r.unit, r.rank, r.delivered_at, r.read_at, r.acked_at, "
            f"r.channel, m.name AS member_name, u.name AS unit_name, {via} AS via_home, "
            "r.home_unit"
            f"{joins}{cond} ORDER BY r.unit, r.member LIMIT ? OFFSET ?",
            *args,
            limit,
            offset,
        )
        out = [
            {
                "member": r["member"],
                "name": r["member_name"],
                "unit": r["unit"],
                "unit_name": r["unit_name"],
                "state": ReceiptState.of_rank(int(r["rank"])).value,
                "delivered_at": r["delivered_at"],
                "read_at": r["read_at"],
                "acked_at": r["acked_at"],
                "channel": r["channel"],
                "via_home": bool(r["via_home"]),
                "home_unit": r["home_unit"] if r["home_unit"] != r["unit"] else None,
            }
            for r in rows
        ]
        return out, int(total)


def _chain(unit: str, parent_of: dict[str, str | None]) -> list[str]:
    """``unit`` and its ancestors, nearest first (cycle-safe)."""
    chain: list[str] = []
    seen: set[str] = set()
    cur: str | None = unit
    while cur is not None and cur not in seen:
        chain.append(cur)
        seen.add(cur)
        cur = parent_of.get(cur)
    return chain


def _depths(units: dict[str, Any], parent_of: dict[str, str | None]) -> dict[str, int]:
    """Depth (root 0) of ``units`` and of all their ancestors; each unit is walked
    once (the answers are remembered), so the work is linear in the units involved."""
    depth: dict[str, int] = {}
    for start in units:
        path: list[str] = []
        cur: str | None = start
        on_path: set[str] = set()
        while cur is not None and cur not in depth and cur not in on_path:
            path.append(cur)
            on_path.add(cur)
            cur = parent_of.get(cur)
        base = -1 if cur is None or cur in on_path else depth[cur]
        for u in reversed(path):
            base += 1
            depth[u] = base
    return depth
