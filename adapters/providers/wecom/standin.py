"""WeCom stand-in (qyapi): gettoken, message/send and the group-robot webhook."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, Final

import orjson
from aiohttp import web

from ...core.standin import Recent, StandinServer, json_response
from ...limits import LIMITS, FieldLimit, measure

__all__ = ["WecomStandin"]

_APP: Final = LIMITS["wecom"]
_BOT: Final = LIMITS["wecom-bot"]


def _too_long(value: Any, limit: FieldLimit) -> bool:
    return measure(str(value or ""), limit.unit) > limit.limit


def _content_refusal(msgtype: str, body: dict[str, Any]) -> web.Response | None:
    """WeCom refuses an over-long field with 45002 and an empty one with 44004."""
    part = body.get(msgtype)
    if not isinstance(part, dict):
        return _err(41011, f"missing {msgtype}")
    if msgtype == "textcard":
        fields = {
            "title": _APP["textcard.title"],
            "description": _APP["textcard.description"],
            "btntxt": _APP["textcard.btntxt"],
        }
        if not part.get("title") or not part.get("description") or not part.get("url"):
            return _err(44004, "empty textcard title, description or url")
    else:
        fields = {"content": _APP[msgtype]}
        if not part.get("content"):
            return _err(44004, "empty content")
    for name, limit in fields.items():
        if _too_long(part.get(name), limit):
            return _err(45002, f"{msgtype}.{name} size out of limit ({limit.describe()})")
    return None


def _err(errcode: int, errmsg: str, **extra: Any) -> web.Response:
    return json_response({"errcode": errcode, "errmsg": errmsg, **extra})


class WecomStandin(StandinServer):
    """Tokens live ``token_ttl`` seconds; ``token_fetches`` counts gettoken calls.

    ``invalid_users`` are answered as not visible to the app (``invaliduser``);
    the robot answers 45009 past ``bot_per_minute`` messages in a minute.
    """

    name = "wecom"

    def __init__(self, *, wall: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.wall = wall
        self.corp_id = "wwstandin" + secrets.token_hex(4)
        self.corp_secret = secrets.token_urlsafe(24)
        self.agent_id = 1000002
        self.bot_key = str(secrets.token_hex(16))
        self.token_ttl = 7200
        self.token_fetches = 0
        self.invalid_users: set[str] = set()
        self.bot_per_minute = 20
        self.sent = Recent()
        self.bot_sent = Recent()
        self._tokens: dict[str, float] = {}
        self._bot_window: list[float] = []
        self._msgid = 0
        self._recent: dict[bytes, tuple[float, str]] = {}
        self.duplicates = 0
        self.app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        self.app.router.add_post("/cgi-bin/message/send", self._send)
        self.app.router.add_post("/cgi-bin/webhook/send", self._webhook)

    def bot_env(self) -> dict[str, str]:
        """The ``HUB_WECOM_BOT_*`` settings that point the robot adapter here."""
        return {"HUB_WECOM_BOT_KEY": self.bot_key, "HUB_WECOM_BOT_ENDPOINT": self.base_url}

    def env(self) -> dict[str, str]:
        """The ``HUB_*`` settings that point this provider's adapter here."""
        return {
            "HUB_WECOM_CORP_ID": self.corp_id,
            "HUB_WECOM_CORP_SECRET": self.corp_secret,
            "HUB_WECOM_AGENT_ID": str(self.agent_id),
            "HUB_WECOM_ENDPOINT": self.base_url,
        }

    async def _gettoken(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.token_fetches += 1
        if request.query.get("corpid") != self.corp_id:
            return _err(40013, "invalid corpid")
        if request.query.get("corpsecret") != self.corp_secret:
            return _err(40001, "invalid credential")
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self.wall() + self.token_ttl
        return _err(0, "ok", access_token=token, expires_in=self.token_ttl)

    def expire_tokens(self) -> None:
        """Invalidate every issued token early, as WeCom may do."""
        self._tokens.clear()

    def _token_error(self, token: str | None) -> web.Response | None:
        if not token:
            return _err(41001, "access_token missing")
        expiry = self._tokens.get(token)
        if expiry is None:
            return _err(40014, "invalid access_token")
        if self.wall() >= expiry:
            return _err(42001, "access_token expired")
        return None

    async def _send(self, request: web.Request) -> web.Response:
        self.requests += 1
        refused = self._token_error(request.query.get("access_token"))
        if refused is not None:
            return refused
        fault = self.faults.take()
        if fault == "timeout":
            await self.faults.hang()
        if fault in ("server_error", "timeout"):
            return web.Response(status=500, text="Internal Server Error")
        if fault == "expired_token":
            self.expire_tokens()
            return _err(42001, "access_token expired")
        if fault == "rate_limited":
            return _err(45009, "api freq out of limit")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _err(40058, "Warning: wrong json format.")
        if body.get("agentid") != self.agent_id:
            return _err(40056, "invalid agentid")
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "markdown", "textcard"):
            return _err(40008, "invalid message type")
        refused = _content_refusal(msgtype, body)
        if refused is not None:
            return refused
        users = [u for u in str(body.get("touser", "")).split("|") if u]
        invalid = [u for u in users if u in self.invalid_users or fault == "invalid_number"]
        if not users or len(invalid) == len(users):
            return _err(81013, "user & party & tag all invalid")
        extra = {"invaliduser": "|".join(u.lower() for u in invalid)} if invalid else {}
        # with enable_duplicate_check an identical request within the interval is
        # accepted but not delivered again
        dedupe = body.get("enable_duplicate_check") == 1
        key, now = orjson.dumps(body, option=orjson.OPT_SORT_KEYS), self.wall()
        seen = self._recent.get(key) if dedupe else None
        if seen is not None and now - seen[0] < float(body.get("duplicate_check_interval", 1800)):
            self.duplicates += 1
            return _err(0, "ok", msgid=seen[1], **extra)
        self._msgid += 1
        msgid = f"msg{self._msgid:08d}"
        if dedupe:
            if len(self._recent) >= 1000:  # WeCom's longest interval is 4 hours
                self._recent = {k: v for k, v in self._recent.items() if now - v[0] < 14_400}
            self._recent[key] = (now, msgid)
        self.sent.append(body)
        return _err(0, "ok", msgid=msgid, **extra)

    async def _webhook(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.query.get("key") != self.bot_key:
            return _err(93000, "invalid webhook url")
        fault = self.faults.take()
        if fault == "timeout":
            await self.faults.hang()
        if fault in ("server_error", "timeout"):
            return web.Response(status=500, text="Internal Server Error")
        now = self.wall()
        self._bot_window = [t for t in self._bot_window if now - t < 60]
        if fault == "rate_limited" or len(self._bot_window) >= self.bot_per_minute:
            return _err(45009, "api freq out of limit")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _err(40058, "Warning: wrong json format.")
        msgtype = body.get("msgtype")
        if msgtype not in _BOT:
            return _err(40008, "invalid message type")
        content = str(body.get(msgtype, {}).get("content", ""))
        if not content:
            return _err(44004, "empty content")
        if _too_long(content, _BOT[msgtype]):
            return _err(45002, "content size out of limit")
        self._bot_window.append(now)
        self.bot_sent.append(body)
        return _err(0, "ok")
