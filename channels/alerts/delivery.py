"""One escalation attempt to one member through WeChat or SMS, recorded against
the receipt: an ``ntc_attempts`` row before sending (so a resumed rung never
sends twice) and an ``attempt`` event in the ledger with the outcome.

Addresses: ``wechat`` uses the Official Account (the member's ``wechat`` OpenID)
or else the WeCom app (``wecom`` UserID); ``sms`` the member's phone through the
``sms`` failover group. A provider that is not configured falls back to ``log``.
Texts are Chinese; the WeChat message carries the signed ack link, the SMS asks
for the reply “1 <code>” with the member's reply code for the notice (SMS
templates refuse URLs; see ``replies.py``).

Attempt states: ``sending`` (written before the provider is called), then
``sent`` or ``failed``; ``skipped``, ``deferred``, ``capped`` never reach a
provider. A ``sending`` attempt whose process died mid-send (its rung's lease ran
out) becomes ``unknown`` when the next scheduler takes the rung over
(:meth:`Outbox.resolve_interrupted`): the provider may or may not have accepted
it, and SMS has no idempotency key, so it is never sent again automatically —
the ladder goes on to its next rung. The attempt id travels to the provider
(``OutId``, ``SessionContext``, ``client_msg_id``) so a late report still names it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from adapters import Adapter, AdapterError, Message, masked_logger
from adapters.limits import fit
from channels.alerts.replies import ReplyCodes, sms_ask
from channels.directory import store as dirstore
from channels.directory.model import Member
from channels.directory.phone import mask_phone, mask_wechat
from channels.notices import ledger
from channels.notices.links import AckLinks
from channels.notices.model import Notice
from channels.notices.service import Notices

__all__ = ["Attempt", "Outbox", "sms_text", "wechat_title"]

log = masked_logger("channels.alerts")

_URGENT: Final = {"urgent": "紧急", "normal": "通知"}


def wechat_title(n: Notice) -> str:
    """Whole: each adapter fits it to its provider's field (``thing1`` 20 characters,
    WeCom textcard title 128 bytes)."""
    return f"【{_URGENT.get(n.urgency, '通知')}】{n.title}"


def sms_text(n: Notice, code: str | None = None) -> str:
    """≤ 35 characters (Alibaba's default variable limit), no URL; with ``code``
    it asks for the reply ``1 <code>``."""
    tail = sms_ask(code) if code else "，请及时查看"
    return f"《{fit(n.title, 35 - 2 - len(tail), 'chars')}》{tail}"


@dataclass(slots=True)
class Attempt:
    notice: str
    member: str
    rung: int
    via: str
    status: str  # sending, sent, failed, unknown, skipped, capped, deferred
    provider: str | None = None
    message_id: str | None = None


class Outbox:
    def __init__(
        self,
        notices: Notices,
        adapters: Mapping[str, Adapter],
        links: AckLinks,
    ) -> None:
        self.notices = notices
        self.adapters = adapters
        self.links = links
        self.codes = ReplyCodes(notices)

    def _route(self, via: str, m: Member) -> tuple[Adapter, str, str] | None:
        """(adapter, address, masked address) or None when the member has none."""
        a = self.adapters
        if via == "sms":
            if not m.phone:
                return None
            return a.get("sms") or a["log"], m.phone, mask_phone(m.phone)
        if m.wechat and "wechat" in a:
            return a["wechat"], m.wechat, mask_wechat(m.wechat)
        if m.wecom and "wecom" in a:
            return a["wecom"], m.wecom, mask_wechat(m.wecom)
        if m.wechat or m.wecom:
            addr = m.wechat or m.wecom or ""
            return a["log"], addr, mask_wechat(addr)
        return None

    def _message(
        self, via: str, adapter: Adapter, n: Notice, member: str, ref: str, code: str | None
    ) -> Message:
        if via == "sms":
            return Message(text=sms_text(n, code), reference=ref)
        url = self.links.url(n.id, member, self.notices.clock())
        if adapter.name == "wecom":
            # the body is fitted to the textcard's 512 bytes by the adapter, the
            # tail kept whole
            text, tail = (n.body, "\n请点击签收。") if n.body else ("请点击签收。", "")
            return Message(
                text=text,
                tail=tail,
                title=wechat_title(n),
                url=url,
                format="textcard",
                reference=ref,
            )
        return Message(text=wechat_title(n), url=url, reference=ref)

    async def record(self, a: Attempt, detail: dict[str, object]) -> None:
        async with self.notices.db.transaction() as tx:
            await ledger.append(
                tx,
                a.notice,
                [
                    ledger.Event(
                        a.member,
                        "attempt",
                        self.notices.now_ms(),
                        channel=a.via,
                        detail={"rung": a.rung, "status": a.status, **detail},
                    )
                ],
            )

    async def send(self, n: Notice, member: str, rung: int, via: str) -> Attempt:
        m = await dirstore.get_member(self.notices.db, member)
        route = None if m is None else self._route(via, m)
        if route is None:
            a = Attempt(n.id, member, rung, via, "skipped")
            await self._claim(a, None, None, None)
            await self.record(a, {"reason": "no_address"})
            return a
        adapter, address, masked = route
        a = Attempt(n.id, member, rung, via, "sending", adapter.name)
        ref = await self._claim(a, adapter.name, address, None)
        code = await self.codes.code_for(n.id, member) if via == "sms" and n.require_ack else None
        try:
            message = self._message(via, adapter, n, member, ref, code)
            result = await adapter.send(address, message)
        except AdapterError as exc:
            a.status = "failed"
            log.warning("escalation %s to %s (%s) failed: %s", via, member, masked, exc.describe())
            await self._finish(ref, a)
            await self.record(
                a,
                {
                    "provider": adapter.name,
                    "to": masked,
                    "attempt": ref,
                    "error": f"{type(exc).__name__}:{exc.code}",
                },
            )
            return a
        a.status, a.provider, a.message_id = "sent", result.provider, result.message_id
        await self._finish(ref, a)
        log.info(
            "escalation %s to %s (%s) via %s: %s",
            via,
            member,
            masked,
            result.provider,
            result.message_id,
        )
        await self.record(
            a,
            {
                "provider": result.provider,
                "to": masked,
                "attempt": ref,
                "message_id": result.message_id,
            },
        )
        return a

    async def _claim(
        self, a: Attempt, provider: str | None, address: str | None, pmid: str | None
    ) -> str:
        ref = f"t{secrets.token_hex(8)}"
        await self.notices.db.execute(
            "INSERT INTO ntc_attempts (id, notice, member, rung, via, provider, "
            "provider_message_id, "
            "address, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ref,
            a.notice,
            a.member,
            a.rung,
            a.via,
            provider,
            pmid,
            address,
            a.status,
            self.notices.now_ms(),
        )
        return ref

    async def _finish(self, ref: str, a: Attempt) -> None:
        await self.notices.db.execute(
            "UPDATE ntc_attempts SET status = ?, provider = ?, provider_message_id = ? WHERE "
            "id = ?",
            a.status,
            a.provider,
            a.message_id,
            ref,
        )

    async def resolve_interrupted(self, notice: str, rung: int, member: str) -> list[Attempt]:
        """Mark this rung's ``sending`` attempts ``unknown`` (``member`` ``''``: every
        member's). Called by the scheduler that has just taken the rung over from
        a lease that ran out, so their sender is gone; each is recorded once."""
        sql = (
            "SELECT id, member, via, provider, address FROM ntc_attempts WHERE notice = ? "
            "AND rung = ? AND status = 'sending'"
        )
        args: list[object] = [notice, rung]
        if member:
            sql += " AND member = ?"
            args.append(member)
        else:  # members deferred past their quiet hours are their own rows' business
            sql += (
                " AND member NOT IN (SELECT member FROM alr_rungs WHERE notice = ? AND rung = ? "
                "AND member <> '')"
            )
            args += [notice, rung]
        resolved: list[Attempt] = []
        for r in await self.notices.db.fetch(sql, *args):
            changed = await self.notices.db.execute(
                "UPDATE ntc_attempts SET status = 'unknown' WHERE id = ? AND status = 'sending'",
                r["id"],
            )
            if not changed:
                continue
            a = Attempt(notice, str(r["member"]), rung, str(r["via"]), "unknown", r["provider"])
            masked = _mask(a.via, r["address"])
            log.warning(
                "escalation %s to %s (%s) via %s was interrupted mid-send (attempt %s): "
                "marked unknown, not resent",
                a.via,
                a.member,
                masked,
                a.provider,
                r["id"],
            )
            await self.record(
                a,
                {
                    "provider": a.provider,
                    "to": masked,
                    "attempt": r["id"],
                    "reason": "interrupted",
                },
            )
            resolved.append(a)
        return resolved

    async def note(
        self, n: Notice, member: str, rung: int, via: str, status: str, detail: dict[str, object]
    ) -> None:
        """An attempt that did not send (deferred for quiet hours, capped)."""
        a = Attempt(n.id, member, rung, via, status)
        await self._claim(a, None, None, None)
        await self.record(a, detail)


def _mask(via: str, address: object) -> str:
    if not address:
        return ""
    return mask_phone(str(address)) if via == "sms" else mask_wechat(str(address))


Sender = Callable[[Notice, str, int, str], object]
