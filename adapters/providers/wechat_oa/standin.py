"""WeChat Official Account stand-in: token, stable_token, template and subscription sends."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from ...core.standin import Recent, StandinServer, json_response
from ...errors import ValidationError
from ...limits import check_oa_values
from .signing import callback_signature

__all__ = ["WechatStandin"]

_OVERLAP = 300
_REENTRY = 600


def _err(errcode: int, errmsg: str, **extra: Any) -> web.Response:
    return json_response({"errcode": errcode, "errmsg": f"{errmsg} rid: standin", **extra})


def _values_refusal(body: dict[str, Any]) -> web.Response | None:
    """47003 names the value that breaks its key's limit (``thing`` 20 characters...)."""
    data = body.get("data") or {}
    if not isinstance(data, dict):
        return _err(47003, "argument invalid! data")
    try:
        check_oa_values("wechat", {k: str((v or {}).get("value", "")) for k, v in data.items()})
    except ValidationError as error:
        return _err(47003, f"argument invalid! {error.message}")
    return None


class WechatStandin(StandinServer):
    """``/cgi-bin/token`` issues a new token and retires the previous one after a
    5-minute overlap; ``/cgi-bin/stable_token`` returns the same token while valid.

    ``event_url``: when set, each template send is followed by a signed
    TEMPLATESENDJOBFINISH push (``callback_token`` signs it).
    """

    name = "wechat"

    def __init__(self, *, wall: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.wall = wall
        self.app_id = "wxstandin" + secrets.token_hex(4)
        self.app_secret = secrets.token_hex(16)
        self.template_id = "standin-template-0001"
        self.subscribe_template_id = "standin-subscribe-0001"
        self.callback_token = secrets.token_hex(8)
        self.original_id = "gh_standin00001"
        self.token_ttl = 7200
        self.token_fetches = 0
        self.event_url: str | None = None
        self.sent = Recent()
        self._tokens: dict[str, float] = {}
        self._stable: str | None = None
        self._msgid = 200_000_000
        self._client_ids: dict[tuple[str, str], tuple[float, int]] = {}
        self.duplicates = 0
        router = self.app.router
        router.add_get("/cgi-bin/token", self._token)
        router.add_post("/cgi-bin/stable_token", self._stable_token)
        router.add_post("/cgi-bin/message/template/send", self._template_send)
        router.add_post("/cgi-bin/message/subscribe/bizsend", self._subscribe_send)

    def env(self) -> dict[str, str]:
        """The ``HUB_*`` settings that point this provider's adapter here."""
        return {
            "HUB_WECHAT_APP_ID": self.app_id,
            "HUB_WECHAT_APP_SECRET": self.app_secret,
            "HUB_WECHAT_TEMPLATE_ID": self.template_id,
            "HUB_WECHAT_CALLBACK_TOKEN": self.callback_token,
            "HUB_WECHAT_ENDPOINT": self.base_url,
        }

    def _issue(self) -> str:
        token = secrets.token_urlsafe(48)
        self._tokens[token] = self.wall() + self.token_ttl
        return token

    async def _token(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.token_fetches += 1
        if request.query.get("grant_type") != "client_credential":
            return _err(40002, "invalid grant_type")
        if request.query.get("appid") != self.app_id:
            return _err(40013, "invalid appid")
        if request.query.get("secret") != self.app_secret:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        now = self.wall()
        for token, expiry in list(self._tokens.items()):
            self._tokens[token] = min(expiry, now + _OVERLAP)
        return json_response({"access_token": self._issue(), "expires_in": self.token_ttl})

    async def _stable_token(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.token_fetches += 1
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _err(47001, "data format error")
        if body.get("appid") != self.app_id:
            return _err(40013, "invalid appid")
        if body.get("secret") != self.app_secret:
            return _err(40125, "invalid appsecret")
        now = self.wall()
        current = self._stable
        if body.get("force_refresh") or current is None or self._tokens.get(current, 0) <= now:
            current = self._stable = self._issue()
        return json_response(
            {"access_token": current, "expires_in": int(self._tokens[current] - now)}
        )

    def expire_tokens(self) -> None:
        self._tokens.clear()
        self._stable = None

    async def _checked(
        self, request: web.Request
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        self.requests += 1
        token = request.query.get("access_token")
        if not token:
            return None, _err(41001, "access_token missing")
        expiry = self._tokens.get(token)
        if expiry is None:
            return None, _err(40001, "invalid credential, access_token is invalid or not latest")
        if self.wall() >= expiry:
            return None, _err(42001, "access_token expired")
        fault = self.faults.take()
        if fault == "timeout":
            await self.faults.hang()
        if fault in ("server_error", "timeout"):
            return None, web.Response(status=500, text="Internal Server Error")
        if fault == "expired_token":
            self.expire_tokens()
            return None, _err(42001, "access_token expired")
        if fault == "rate_limited":
            return None, _err(45011, "api minute-quota reach limit")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return None, _err(47001, "data format error")
        if fault == "invalid_number" or len(str(body.get("touser", ""))) < 6:
            return None, _err(40003, "invalid openid")
        return body, None

    async def _template_send(self, request: web.Request) -> web.Response:
        body, refused = await self._checked(request)
        if refused is not None or body is None:
            return refused or _err(-1, "system error")
        if body.get("template_id") != self.template_id:
            return _err(40037, "invalid template_id")
        refused = _values_refusal(body)
        if refused is not None:
            return refused
        # client_msg_id: one message per follower and id within 10 minutes
        reentry = (str(body.get("touser")), str(body.get("client_msg_id", "")))
        seen = self._client_ids.get(reentry) if reentry[1] else None
        if seen is not None and self.wall() - seen[0] < _REENTRY:
            self.duplicates += 1
            return _err(0, "ok", msgid=seen[1])
        self._msgid += 1
        if reentry[1]:
            now = self.wall()
            if len(self._client_ids) >= 1000:
                self._client_ids = {
                    k: v for k, v in self._client_ids.items() if now - v[0] < _REENTRY
                }
            self._client_ids[reentry] = (now, self._msgid)
        self.sent.append(body)
        if self.event_url:
            self.spawn(self._push_event(str(body["touser"]), self._msgid))
        return _err(0, "ok", msgid=self._msgid)

    async def _subscribe_send(self, request: web.Request) -> web.Response:
        body, refused = await self._checked(request)
        if refused is not None or body is None:
            return refused or _err(-1, "system error")
        if body.get("template_id") != self.subscribe_template_id:
            return _err(40037, "invalid template_id")
        refused = _values_refusal(body)
        if refused is not None:
            return refused
        self.sent.append(body)
        return _err(0, "ok")

    async def _push_event(self, openid: str, msgid: int) -> None:
        xml = (
            f"<xml><ToUserName><![CDATA[{self.original_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(self.wall())}</CreateTime>"
            "<MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
            f"<MsgID>{msgid}</MsgID><Status><![CDATA[success]]></Status></xml>"
        )
        timestamp, nonce = str(int(self.wall())), secrets.token_hex(5)
        signature = callback_signature(self.callback_token, timestamp, nonce)
        assert self.event_url is not None
        url = f"{self.event_url}?signature={signature}&timestamp={timestamp}&nonce={nonce}"
        await self.push(url, xml.encode(), "text/xml")
