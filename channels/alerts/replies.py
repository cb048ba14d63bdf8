"""SMS-reply 签收 with per-recipient reply codes.

Every escalation SMS that asks for a reply carries a 4-digit code of its own
(``《标题》，请回复1 4827签收``): one random code per (notice, member), the same on
every SMS of that notice to that member, unique among the member's open notices.
A reply acks only the notice whose code it quotes, and only when it comes from
the number that code was sent to; ``1`` alone (the old form) acks nothing. So a
forged reply needs the code, and the code also says which notice is meant when
several are open.

Codes are stored in plain text (``alr_reply_codes``): a hash of a 4-digit code is
reversed by trying all 9,000 values, so hashing would add nothing; what bounds a
guesser is the throttle. A code is worth one ack of one notice and lives only
while that receipt is open (rows of closed receipts are dropped when the member
gets a new code).

Every reply is recorded in ``alr_sms_replies`` (phone, provider, outcome, the
notice it acked) and logged with the number masked; outcomes: ``acked``,
``already`` (that notice is already signed), ``no_code``, ``wrong_code``,
``throttled``, ``not_ack``. After ``MAX_WRONG`` wrong codes from one number within
``WINDOW_MS``, further replies from it are ignored (``throttled``) until the window
has passed. Nothing is sent back: a refusal SMS would cost money per forged
request and tell a guesser when a code was right.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Final

from adapters import InboundMessage, masked_logger
from channels.directory.phone import mask_phone
from channels.notices.service import Notices
from channels.notices.states import ReceiptState
from hub.protocol.errors import HubError

__all__ = [
    "ACK_WORDS",
    "MAX_WRONG",
    "WINDOW_MS",
    "ReplyCodes",
    "ReplyOutcome",
    "parse_reply",
    "simulated_reply",
    "sms_ask",
]

log = masked_logger("channels.alerts.replies")

ACK_WORDS: Final = ("已收到", "签收", "收到", "确认", "1")
MAX_WRONG: Final = 5
WINDOW_MS: Final = 3600 * 1000
_IN_CHUNK: Final = 400  # ids per IN (...) list
_DROP: Final = re.compile(r"[\s,，.。!！:：、;；\"'“”‘’()（）\[\]【】#*+\-_~]+")
_WORDS: Final = "|".join(ACK_WORDS)
# ack words (and the prompt's own 回复) may stand before and after the code, in any
# number: what a member types back is often the SMS's own words (回复1 4827签收)
_REPLY: Final = re.compile(rf"(?:回复|答复|{_WORDS})*([1-9]\d{{3}})(?:{_WORDS})*")
_ASK: Final = re.compile(r"请回复1 ([1-9]\d{3})签收")


def sms_ask(code: str) -> str:
    """The tail of an SMS that asks for a reply (12 characters)."""
    return f"，请回复1 {code}签收"


def parse_reply(text: str) -> tuple[bool, str | None]:
    """(is it an ack at all, the code it quotes). Full-width digits, spaces and
    punctuation are forgiven: ``1 4827``, ``14827``, ``4827``, ``签收4827``, ``１ ４８２７。``,
    and the prompt's words around the code: ``回复1 4827签收``, ``签收1 4827``, ``收到，1 4827``."""
    compact = _DROP.sub("", unicodedata.normalize("NFKC", text))
    found = _REPLY.fullmatch(compact)
    if found:
        return True, found.group(1)
    return compact in ACK_WORDS, None


def simulated_reply(sms_text: str) -> str | None:
    """What a member answers to an SMS that asks for a reply (the sandbox's stand-ins
    use it): ``1 <code>``; None for an SMS that asks for none."""
    found = _ASK.search(sms_text)
    return None if found is None else f"1 {found.group(1)}"


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    outcome: str
    acked: tuple[tuple[str, str], ...] = ()  # (notice, member)


class ReplyCodes:
    def __init__(self, notices: Notices) -> None:
        self.notices = notices

    async def code_for(self, notice: str, member: str) -> str:
        """The member's code for the notice: the one already given, else a new
        random one unique among the member's codes."""
        db = self.notices.db
        given = await db.fetchval(
            "SELECT code FROM alr_reply_codes WHERE notice = ? AND member = ?", notice, member
        )
        if given is not None:
            return str(given)
        # codes of signed or recalled notices are free again (neither ever changes back)
        held = await db.fetch("SELECT notice FROM alr_reply_codes WHERE member = ?", member)
        free = sorted(await self.notices.settled(member, [str(r["notice"]) for r in held]))
        for i in range(0, len(free), _IN_CHUNK):
            part = free[i : i + _IN_CHUNK]
            await db.execute(
                "DELETE FROM alr_reply_codes WHERE member = ? AND notice IN ("
                + ", ".join("?" * len(part))
                + ")",
                member,
                *part,
            )
        for _ in range(50):
            code = str(1000 + secrets.randbelow(9000))
            if await db.execute(
                "INSERT INTO alr_reply_codes (notice, member, code, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                notice,
                member,
                code,
                self.notices.now_ms(),
            ):
                return code
            given = await db.fetchval(  # another process gave one meanwhile
                "SELECT code FROM alr_reply_codes WHERE notice = ? AND member = ?", notice, member
            )
            if given is not None:
                return str(given)
        raise RuntimeError(f"no free reply code for member {member}")

    async def handle(self, msg: InboundMessage) -> ReplyOutcome:
        """Ack what the reply's code names, record the reply and log it (masked)."""
        result = await self._resolve(msg)
        await self._record(msg, result)
        who = mask_phone(msg.sender)
        if result.outcome == "acked":
            log.info("SMS reply from %s acked %s", who, ", ".join(n for n, _ in result.acked))
        elif result.outcome in ("wrong_code", "throttled"):
            log.warning("SMS reply from %s refused: %s", who, result.outcome)
        else:
            log.info("SMS reply from %s acks nothing: %s", who, result.outcome)
        return result

    async def _resolve(self, msg: InboundMessage) -> ReplyOutcome:
        is_ack, code = parse_reply(msg.text)
        if not is_ack:
            return ReplyOutcome("not_ack")
        db = self.notices.db
        now = self.notices.now_ms()
        wrong = await db.fetchval(
            "SELECT COUNT(*) FROM alr_sms_replies WHERE phone = ? AND outcome = 'wrong_code' "
            "AND at > ?",
            msg.sender,
            now - WINDOW_MS,
        )
        if int(wrong or 0) >= MAX_WRONG:
            return ReplyOutcome("throttled")
        if code is None:
            return ReplyOutcome("no_code")
        codes = await db.fetch(
            "SELECT c.notice, c.member FROM alr_reply_codes c "
            "WHERE c.code = ? AND EXISTS (SELECT 1 FROM ntc_attempts a WHERE a.notice = c.notice "
            "AND a.member = c.member AND a.via = 'sms' AND a.address = ?)",
            code,
            msg.sender,
        )
        rows = []  # (notice, member, receipt state, recalled) of the codes' receipts
        for c in codes:
            receipt = await self.notices.receipt_of(str(c["notice"]), str(c["member"]))
            if receipt is not None:
                rows.append((str(c["notice"]), str(c["member"]), *receipt))
        if not rows:
            return ReplyOutcome("wrong_code")
        acked: list[tuple[str, str]] = []
        for notice, member, state, recalled in rows:
            if recalled or state.rank >= ReceiptState.ACKED.rank:
                continue
            try:
                change = await self.notices.set_state(
                    notice,
                    member,
                    ReceiptState.ACKED.value,
                    "sms-reply",
                    {"provider": msg.provider},
                )
            except HubError:
                continue
            if change.changed:
                acked.append((notice, member))
        return ReplyOutcome("acked", tuple(acked)) if acked else ReplyOutcome("already")

    async def _record(self, msg: InboundMessage, result: ReplyOutcome) -> None:
        first = result.acked[0] if result.acked else (None, None)
        await self.notices.db.execute(
            "INSERT INTO alr_sms_replies (id, phone, provider, outcome, notice, member, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            f"r{secrets.token_hex(8)}",
            msg.sender,
            msg.provider,
            result.outcome,
            first[0],
            first[1],
            self.notices.now_ms(),
        )
