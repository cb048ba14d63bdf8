"""The sink of the adapters' callback routes: provider delivery reports and SMS replies.

A report is matched to its attempt by provider message id (or, when the
provider echoes it, the attempt id sent as the reference); it is appended to the
ledger as a ``report`` event, and a delivered report moves the receipt to
``delivered`` (channel: the attempt's ``via``). An SMS reply “1” (or 签收, 收到)
from a number we sent an escalation to acks that member's newest unsigned
notice, with channel ``sms-reply``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

from adapters import CallbackRecord, DeliveryReport, DeliveryStatus, InboundMessage
from channels.directory.phone import mask_phone
from channels.notices import ledger
from channels.notices.service import Notices
from hub.core.interfaces import Row
from hub.protocol.errors import HubError

__all__ = ["ACK_WORDS", "CallbackSink"]

log = logging.getLogger("channels.alerts.callbacks")

ACK_WORDS: Final = frozenset({"1", "１", "签收", "收到", "已收到", "确认"})


class CallbackSink:
    def __init__(self, notices: Notices, match_wait: float = 3.0) -> None:
        self.notices = notices
        self.match_wait = match_wait

    async def __call__(self, record: CallbackRecord) -> None:
        if isinstance(record, DeliveryReport):
            await self.report(record)
        else:
            await self.inbound(record)

    async def _attempt(self, rep: DeliveryReport) -> Row | None:
        db = self.notices.db
        end = time.monotonic() + self.match_wait
        while True:  # the report can overtake the write of the provider's message id
            row = await db.fetchrow(
                "SELECT id, notice, member, via, status FROM ntc_attempts WHERE "
                "provider_message_id = ? "
                "AND provider = ?",
                rep.provider_message_id,
                rep.provider,
            )
            if row is None and rep.reference:
                row = await db.fetchrow(
                    "SELECT id, notice, member, via, status FROM ntc_attempts WHERE id = ?",
                    rep.reference,
                )
            if row is not None or time.monotonic() > end:
                return row
            await asyncio.sleep(0.05)

    async def report(self, rep: DeliveryReport) -> None:
        row = await self._attempt(rep)
        if row is None:
            log.warning(
                "report from %s for unknown message %s", rep.provider, rep.provider_message_id
            )
            return
        status = "delivered" if rep.status == DeliveryStatus.DELIVERED else "undelivered"
        db = self.notices.db
        if not await db.execute(
            "UPDATE ntc_attempts SET status = ? WHERE id = ? AND status <> ?",
            status,
            row["id"],
            status,
        ):
            return  # a repeated report
        async with db.transaction() as tx:
            await ledger.append(
                tx,
                row["notice"],
                [
                    ledger.Event(
                        row["member"],
                        "report",
                        self.notices.now_ms(),
                        channel=row["via"],
                        detail={
                            "attempt": row["id"],
                            "provider": rep.provider,
                            "status": status,
                            "message_id": rep.provider_message_id,
                            "error_code": rep.error_code,
                        },
                    )
                ],
            )
        if status == "delivered":
            try:
                await self.notices.set_state(
                    row["notice"],
                    row["member"],
                    "delivered",
                    row["via"],
                    {"provider": rep.provider, "attempt": row["id"]},
                )
            except HubError:
                pass  # recalled meanwhile

    async def inbound(self, msg: InboundMessage) -> None:
        text = msg.text.strip().rstrip("。.!！")
        if text not in ACK_WORDS:
            log.info("SMS from %s is not an ack (%d characters)", mask_phone(msg.sender), len(text))
            return
        rows = await self.notices.db.fetch(
            "SELECT a.notice, a.member FROM ntc_attempts a "
            "JOIN ntc_receipts r ON r.notice = a.notice AND r.member = a.member "
            "JOIN ntc_notices n ON n.id = a.notice "
            "WHERE a.address = ? AND a.via = 'sms' AND r.rank < 3 AND n.recalled_at IS NULL "
            "ORDER BY a.created_at DESC LIMIT 1",
            msg.sender,
        )
        if not rows:
            log.info("SMS ack from %s matches no unsigned notice", mask_phone(msg.sender))
            return
        await self.notices.set_state(
            rows[0]["notice"],
            rows[0]["member"],
            "acked",
            "sms-reply",
            {"provider": msg.provider, "text": text},
        )
