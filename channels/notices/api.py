"""The notices' HTTP API (API key or admin token, like the directory API), the
member's inbox (member token) and the ack-link pages."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from channels.directory.api import require_admin
from channels.directory.model import normalize_id
from channels.notices import ledger
from channels.notices.classification import ClassifiedRefused
from channels.notices.export import SHEET_CSP, csv_bytes, sheet_html
from channels.notices.links import ACK_CSP, AckLinks, LinkClaim, ack_page
from channels.notices.model import Draft, Notice, bad, parse_draft
from channels.notices.pages import page_headers
from channels.notices.policy import parse_policy
from channels.notices.service import Notices, notice_from_row
from channels.notices.states import ReceiptState
from channels.params import query_int
from hub.auth import TokenVerifier
from hub.protocol.errors import Code, HubError
from hub.server.http import json_response, read_json

__all__ = ["NoticesApi", "sender_of"]

log = logging.getLogger("channels.notices.api")
security = logging.getLogger("channels.security")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_COLS: Final = (
    "id, kind, sender, title, body, attachments, audience, require_ack, deadline, "
    "classification, urgency, policy, recipients, created_at, recalled_at, recalled_by"
)


def sender_of(caller: str, body: dict[str, Any]) -> str:
    """The sender: the admin token's member, or ``sender`` in the body (API key)."""
    if caller != "api-key":
        return caller
    sender = body.get("sender", "system")
    if not isinstance(sender, str) or not 1 <= len(sender) <= 128:
        raise bad("sender 应为成员编号")
    return sender


class NoticesApi:
    def __init__(self, notices: Notices, verifier: TokenVerifier, links: AckLinks) -> None:
        self.notices = notices
        self.verifier = verifier
        self.links = links
        self.created_listeners: list[Callable[[Notice], Awaitable[None]]] = []

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/api/notices", self.create)
        r.add_get("/api/notices", self.index)
        r.add_get("/api/notices/refusals", self.refusals)
        r.add_get("/api/notices/{id}", self.get)
        r.add_get("/api/notices/{id}/receipts", self.receipts)
        r.add_get("/api/notices/{id}/sheet", self.sheet)
        r.add_get("/api/notices/{id}/audit", self.audit)
        r.add_post("/api/notices/{id}/remind", self.remind)
        r.add_post("/api/notices/{id}/recall", self.recall)
        r.add_get("/api/inbox", self.inbox)
        r.add_get("/ack/{token}", self.ack_form)
        r.add_post("/ack/{token}", self.ack_post)

    async def after_create(self, n: Notice, members: list[str]) -> None:
        """Push to the recipients, then let listeners (the escalation ladder) know."""
        await self.notices.deliver(n, members)
        for listener in self.created_listeners:
            await listener(n)

    def _admin(self, request: web.Request) -> str:
        return require_admin(request, self.verifier)

    # -- sending -----------------------------------------------------------------------
    async def parse(self, request: web.Request, kind: str) -> tuple[Draft, dict[str, Any]]:
        caller = self._admin(request)
        body = await read_json(request)
        sender = sender_of(caller, body)
        try:
            draft = parse_draft(body, sender, kind)
        except ClassifiedRefused as exc:
            await self.refused(sender, body, exc)
            raise
        draft.policy = parse_policy(body, draft.require_ack)
        return draft, body

    async def refused(self, sender: str, body: dict[str, Any], exc: ClassifiedRefused) -> None:
        title = body.get("title") if isinstance(body.get("title"), str) else ""
        security.warning(
            "classified document refused: sender=%s level=%s where=%s title=%r",
            sender,
            exc.level,
            exc.where,
            str(title)[:100],
        )
        await self.notices.db.execute(
            "INSERT INTO ntc_refusals (ts, sender, title, classification, reason) VALUES (?, "
            "?, ?, ?, ?)",
            self.notices.now_ms(),
            sender,
            str(title)[:200],
            exc.level,
            exc.where,
        )

    async def create(self, request: web.Request) -> web.Response:
        draft, _ = await self.parse(request, "notice")
        n, members, created = await self.notices.create(draft)
        if created:
            await self.after_create(n, members)
        return json_response({"notice": n.to_json(), "created": created}, 201 if created else 200)

    # -- reading -----------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.Response:
        self._admin(request)
        limit = query_int(request, "limit", 50, 1, 500)
        offset = query_int(request, "offset", 0, 0, 10**9)
        member, sender = request.query.get("member"), request.query.get("sender")
        if member:
            return json_response({"notices": await self._inbox(member, limit, offset)})
        db = self.notices.db
        if sender:
            rows = await db.fetch(
                f"SELECT {_COLS} FROM ntc_notices WHERE sender = ? ORDER BY created_at DESC "
                "LIMIT ? OFFSET ?",
                sender,
                limit,
                offset,
            )
        else:
            rows = await db.fetch(
                f"SELECT {_COLS} FROM ntc_notices ORDER BY created_at DESC LIMIT ? OFFSET ?",
                limit,
                offset,
            )
        out = []
        for r in rows:
            n = notice_from_row(r)
            out.append({**n.to_json(), "counts": await self.notices.counts(n.id)})
        return json_response({"notices": out})

    async def _inbox(self, member: str, limit: int, offset: int) -> list[dict[str, Any]]:
        cols = ", ".join("n." + c.strip() for c in _COLS.split(","))
        rows = await self.notices.db.fetch(
            f"SELECT r.rank AS rrank, {cols} FROM ntc_receipts r JOIN ntc_notices n ON n.id = "
            "r.notice "
            "WHERE r.member = ? ORDER BY n.created_at DESC LIMIT ? OFFSET ?",
            member,
            limit,
            offset,
        )
        out = []
        for r in rows:
            n = notice_from_row(r)
            out.append(
                {
                    **n.payload(),
                    "kind": n.kind,
                    "state": ReceiptState.of_rank(int(r["rrank"])).value,
                    "recalled": n.recalled_at is not None,
                }
            )
        return out

    async def inbox(self, request: web.Request) -> web.Response:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise HubError(Code.UNAUTHORIZED, "'Authorization: Bearer <member token>' is required")
        identity = self.verifier.verify(value.strip())
        limit = query_int(request, "limit", 50, 1, 500)
        offset = query_int(request, "offset", 0, 0, 10**9)
        return json_response(
            {
                "member": identity.member,
                "notices": await self._inbox(identity.member, limit, offset),
            }
        )

    async def refusals(self, request: web.Request) -> web.Response:
        self._admin(request)
        rows = await self.notices.db.fetch(
            "SELECT ts, sender, title, classification, reason FROM ntc_refusals ORDER BY ts "
            "DESC LIMIT 500"
        )
        return json_response({"refusals": [dict(r) for r in rows]})

    async def _notice(self, request: web.Request) -> Notice:
        self._admin(request)
        return await self.notices.get(request.match_info["id"])

    async def get(self, request: web.Request) -> web.Response:
        n = await self._notice(request)
        return json_response(
            {
                "notice": n.to_json(),
                "counts": await self.notices.counts(n.id),
                "units": await self.notices.rollup(n.id),
            }
        )

    async def receipts(self, request: web.Request) -> web.StreamResponse:
        n = await self._notice(request)
        fmt = request.query.get("format", "")
        if fmt not in ("", "json", "csv"):
            raise bad("format 应为 json 或 csv")
        csv = fmt == "csv"
        limit = query_int(request, "limit", 100000 if csv else 100, 1, 100000)
        offset = query_int(request, "offset", 0, 0, 10**9)
        items, total = await self.notices.list_receipts(
            n.id,
            state=request.query.get("state") or None,
            unit=normalize_id(request.query.get("unit", "")) or None,
            limit=limit,
            offset=offset,
        )
        if csv:
            return web.Response(
                body=csv_bytes(items),
                content_type="text/csv",
                charset="utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="receipts-{n.id}.csv"',
                    "X-Content-Type-Options": "nosniff",
                },
            )
        return json_response(
            {"notice": n.id, "total": total, "limit": limit, "offset": offset, "receipts": items}
        )

    async def sheet(self, request: web.Request) -> web.Response:
        n = await self._notice(request)
        items, _ = await self.notices.list_receipts(
            n.id,
            state=request.query.get("state") or None,
            unit=normalize_id(request.query.get("unit", "")) or None,
            limit=100000,
            offset=0,
        )
        counts = await self.notices.counts(n.id)
        return web.Response(
            text=sheet_html(n, counts, items),
            content_type="text/html",
            charset="utf-8",
            headers=page_headers(SHEET_CSP),
        )

    async def audit(self, request: web.Request) -> web.Response:
        n = await self._notice(request)
        return json_response(await ledger.verify(self.notices.db, n.id))

    # -- actions -----------------------------------------------------------------------
    async def remind(self, request: web.Request) -> web.Response:
        caller = self._admin(request)
        n = await self._notice(request)
        if n.recalled_at is not None:  # the notice's state, not the request, is the problem
            raise web.HTTPConflict(text="通知已撤回，不能提醒")
        members = await self.notices.remind(n.id, caller)
        return json_response({"notice": request.match_info["id"], "reminded": members})

    async def recall(self, request: web.Request) -> web.Response:
        caller = self._admin(request)
        return json_response(await self.notices.recall(request.match_info["id"], caller))

    # -- ack links ---------------------------------------------------------------------
    def _claim(self, request: web.Request) -> LinkClaim | str:
        return self.links.claim(request.match_info["token"], self.notices.clock())

    async def ack_form(self, request: web.Request) -> web.Response:
        claim = self._claim(request)
        if isinstance(claim, str):
            return _page("无法签收", claim, status=403)
        try:
            n = await self.notices.get(claim.notice)
        except HubError:
            return _page("无法签收", "通知不存在", status=404)
        if n.recalled_at is not None:
            return _page(n.title, "该通知已撤回，无需签收。")
        state = await self.notices.db.fetchval(
            "SELECT rank FROM ntc_receipts WHERE notice = ? AND member = ?", n.id, claim.member
        )
        if state is None:
            return _page("无法签收", "您不是该通知的接收人", status=403)
        if int(state) >= ReceiptState.ACKED.rank:
            return _page(n.title, "您已签收该通知，无需重复签收。")
        if request.method == "GET":  # opening the link is reading the notice (HEAD is not)
            await self.notices.set_state(
                n.id,
                claim.member,
                "read",
                "link",
                {"ua": request.headers.get("User-Agent", "")[:200]},
            )
        return _page(n.title, "请阅读以上内容后点击“签收”。", form=True, body=n.body)

    async def ack_post(self, request: web.Request) -> web.Response:
        claim = self._claim(request)
        if isinstance(claim, str):
            return _page("无法签收", claim, status=403)
        try:
            change = await self.notices.set_state(
                claim.notice,
                claim.member,
                "acked",
                "link",
                {"ua": request.headers.get("User-Agent", "")[:200]},
            )
        except HubError as exc:
            return _page("无法签收", exc.message, status=404)
        message = "签收成功，谢谢！" if change.changed else "您已签收该通知，无需重复签收。"
        return _page("通知签收", message)


def _page(
    title: str, message: str, *, form: bool = False, body: str = "", status: int = 200
) -> web.Response:
    return web.Response(
        text=ack_page(title, message, form, body),
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers=page_headers(ACK_CSP, token_in_url=True),
    )
