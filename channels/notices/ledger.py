"""The receipts ledger: append-only events, one hash chain per notice.

Each event carries the hash of the previous event of its notice
(``prev``; the first event's is 64 zeros) and its own ``hash`` =
SHA-256 over ``prev`` and the event's canonical JSON. Appends lock the notice's
``ntc_heads`` row (``FOR UPDATE`` on PostgreSQL; SQLite transactions are
serial), so several processes extend one chain without forking it.
:func:`verify` recomputes every chain link and checks the receipts projection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from channels.notices.states import ReceiptState
from hub.core.interfaces import Database

__all__ = ["GENESIS", "Event", "append", "event_hash", "lock", "recipients_digest", "verify"]

GENESIS: Final = "0" * 64


@dataclass(slots=True)
class Event:
    """One ledger entry: ``kind`` is created, state, attempt, report, remind, recall."""

    member: str | None
    kind: str
    ts: int
    state: str | None = None
    channel: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def event_hash(
    prev: str,
    notice: str,
    seq: int,
    member: str | None,
    kind: str,
    state: str | None,
    channel: str | None,
    detail: str,
    ts: int,
) -> str:
    body = orjson.dumps([notice, seq, member, kind, state, channel, detail, ts])
    return hashlib.sha256(prev.encode() + b"\n" + body).hexdigest()


def recipients_digest(members: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()


async def lock(tx: Database, notice: str) -> None:
    """Serialize writers of ``notice`` (PostgreSQL; SQLite transactions are serial)."""
    if tx.dialect == "postgresql":
        await tx.fetchval("SELECT seq FROM ntc_heads WHERE notice = ? FOR UPDATE", notice)


async def append(tx: Database, notice: str, events: Sequence[Event]) -> None:
    """Append ``events`` to ``notice``'s chain inside the caller's transaction."""
    if not events:
        return
    lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    head = await tx.fetchrow(f"SELECT seq, hash FROM ntc_heads WHERE notice = ?{lock}", notice)
    seq, prev = (0, GENESIS) if head is None else (int(head["seq"]), str(head["hash"]))
    rows: list[tuple[Any, ...]] = []
    for ev in events:
        seq += 1
        detail = orjson.dumps(ev.detail, option=orjson.OPT_SORT_KEYS).decode()
        h = event_hash(prev, notice, seq, ev.member, ev.kind, ev.state, ev.channel, detail, ev.ts)
        rows.append((notice, seq, ev.member, ev.kind, ev.state, ev.channel, detail, ev.ts, prev, h))
        prev = h
    await tx.executemany(
        "INSERT INTO ntc_events (notice, seq, member, kind, state, channel, detail, ts, prev, "
        "hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    if head is None:
        await tx.execute(
            "INSERT INTO ntc_heads (notice, seq, hash) VALUES (?, ?, ?)", notice, seq, prev
        )
    else:
        await tx.execute(
            "UPDATE ntc_heads SET seq = ?, hash = ? WHERE notice = ?", seq, prev, notice
        )


async def verify(db: Database, notice: str) -> dict[str, Any]:
    """Recompute ``notice``'s chain; compare the head and the receipts projection."""
    rows = await db.fetch(
        "SELECT seq, member, kind, state, channel, detail, ts, prev, hash FROM ntc_events "
        "WHERE notice = ? ORDER BY seq",
        notice,
    )
    problems: list[dict[str, Any]] = []
    prev, expect_seq = GENESIS, 1
    best: dict[str, int] = {}
    members_digest: str | None = None
    for r in rows:
        seq = int(r["seq"])
        if seq != expect_seq:
            problems.append({"seq": seq, "problem": f"序号不连续（应为 {expect_seq}）"})
        expect_seq = seq + 1
        if r["prev"] != prev:
            problems.append({"seq": seq, "problem": "前一事件哈希不符（记录被删除或插入）"})
        h = event_hash(
            str(r["prev"]),
            notice,
            seq,
            r["member"],
            r["kind"],
            r["state"],
            r["channel"],
            str(r["detail"]),
            int(r["ts"]),
        )
        if h != r["hash"]:
            problems.append({"seq": seq, "problem": "事件内容与哈希不符（记录被修改）"})
        prev = str(r["hash"])
        state = ReceiptState.named(r["state"])
        if r["kind"] == "state" and r["member"] is not None and state is not None:
            best[r["member"]] = max(best.get(r["member"], 0), state.rank)
        if r["kind"] == "created":
            members_digest = orjson.loads(r["detail"]).get("recipients_sha256")
    head = await db.fetchrow("SELECT seq, hash FROM ntc_heads WHERE notice = ?", notice)
    if rows and (head is None or head["hash"] != prev or int(head["seq"]) != expect_seq - 1):
        problems.append({"seq": None, "problem": "链尾与记录不符（末尾事件被删除）"})
    receipts = await db.fetch("SELECT member, rank FROM ntc_receipts WHERE notice = ?", notice)
    if (
        members_digest is not None
        and recipients_digest([r["member"] for r in receipts]) != members_digest
    ):
        problems.append({"seq": None, "problem": "接收人名单与发出时不符"})
    for r in receipts:
        if int(r["rank"]) != best.get(r["member"], 0):
            problems.append({"seq": None, "member": r["member"], "problem": "回执状态与台账不符"})
    return {
        "notice": notice,
        "ok": not problems,
        "events": len(rows),
        "head": prev if rows else None,
        "problems": problems,
    }
