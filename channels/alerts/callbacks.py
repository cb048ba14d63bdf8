"""The sink of the adapters' callback routes: provider delivery reports and SMS replies.

A report is matched to its attempt by provider message id (or, when the
provider echoes it, the attempt id sent as the reference); it is appended to the
ledger as a ``report`` event, and a delivered report moves the receipt to
``delivered`` (channel: the attempt's ``via``). An SMS reply acks the notice
whose reply code it quotes (channel ``sms-reply``; see ``replies.py``).
"""

from __future__ import annotations

import asyncio
import time

from adapters import CallbackRecord, DeliveryReport, DeliveryStatus, InboundMessage, masked_logger
from channels.alerts.replies import ReplyCodes
from channels.notices import ledger
from channels.notices.service import Notices
from hub.core.interfaces import Row
from hub.protocol.errors import HubError

__all__ = ["CallbackSink"]

log = masked_logger("channels.alerts.callbacks")


class CallbackSink:
    def __init__(self, notices: Notices, match_wait: float = 3.0) -> None:
        self.notices = notices
        self.match_wait = match_wait
        self.replies = ReplyCodes(notices)

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
        await self.replies.handle(msg)
