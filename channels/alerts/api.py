"""``POST /api/alerts`` (an urgent notice with an escalation ladder), the members'
quiet hours and SMS cap, and a view of an alert's rungs and attempts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from channels.alerts.prefs import parse_hhmm
from channels.alerts.scheduler import Escalator
from channels.notices.api import NoticesApi
from channels.notices.model import bad
from hub.server.http import json_response, read_json

__all__ = ["AlertsApi"]


class AlertsApi:
    def __init__(self, notices_api: NoticesApi, escalator: Escalator) -> None:
        self.napi = notices_api
        self.escalator = escalator

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/api/alerts", self.create)
        r.add_get("/api/alerts/prefs/{member}", self.get_prefs)
        r.add_put("/api/alerts/prefs/{member}", self.put_prefs)
        r.add_get("/api/alerts/{id}/escalation", self.escalation)

    async def create(self, request: web.Request) -> web.Response:
        draft, body = await self.napi.parse(request, "alert")
        if "urgency" not in body:
            draft.urgency = "urgent"
        notices = self.napi.notices
        n, members, created = await notices.create(draft)
        if created:
            await self.napi.after_create(n, members)
        return json_response({"notice": n.to_json(), "created": created}, 201 if created else 200)

    async def get_prefs(self, request: web.Request) -> web.Response:
        self.napi._admin(request)
        member = request.match_info["member"]
        prefs = await self.escalator.prefs(member)
        return json_response({"member": member, **prefs.to_json()})

    async def put_prefs(self, request: web.Request) -> web.Response:
        self.napi._admin(request)
        member = request.match_info["member"]
        body = await read_json(request)
        quiet: Any = body.get("quiet_hours", "keep")
        current = await self.escalator.prefs(member)
        start = end = None
        if quiet == "keep":
            if current.quiet is not None:
                start, end = current.quiet.start, current.quiet.end
        elif quiet is not None:
            if not isinstance(quiet, dict):
                raise bad('quiet_hours 应为 {"start": "22:00", "end": "07:00"} 或 null')
            start, end = parse_hhmm(quiet.get("start")), parse_hhmm(quiet.get("end"))
        cap = body.get("sms_daily_cap", current.sms_daily_cap)
        if not isinstance(cap, int) or isinstance(cap, bool) or not 0 <= cap <= 100:
            raise bad("sms_daily_cap 应为 0 到 100 的整数")
        await self.escalator.db.execute(
            "INSERT INTO alr_prefs (member, quiet_start, quiet_end, sms_daily_cap) VALUES (?, "
            "?, ?, ?) "
            "ON CONFLICT (member) DO UPDATE SET quiet_start = excluded.quiet_start, "
            "quiet_end = excluded.quiet_end, sms_daily_cap = excluded.sms_daily_cap",
            member,
            start,
            end,
            cap,
        )
        prefs = await self.escalator.prefs(member)
        return json_response({"member": member, **prefs.to_json()})

    async def escalation(self, request: web.Request) -> web.Response:
        self.napi._admin(request)
        notice = request.match_info["id"]
        await self.napi.notices.get(notice)
        rows = await self.escalator.db.fetch(
            "SELECT id, member, rung, via, provider, provider_message_id, status, created_at "
            "FROM ntc_attempts WHERE notice = ? ORDER BY created_at, id",
            notice,
        )
        return json_response(
            {
                "notice": notice,
                "rungs": await self.escalator.pending(notice),
                "attempts": [dict(r) for r in rows],
            }
        )
