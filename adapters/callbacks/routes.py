"""aiohttp routes that receive provider callbacks, hand records to a sink, and answer
each provider exactly what it expects.

==========================================  ======================================
path (under ``prefix``)                     provider answer on success
==========================================  ======================================
``POST /aliyun-sms/report``   SmsReport     ``{"code": 0, "msg": "接收成功"}``
``POST /aliyun-sms/uplink``   SmsUp         ``{"code": 0, "msg": "接收成功"}``
``POST /tencent-sms/status``  status        ``{"result": 0, "errmsg": "OK"}``
``POST /tencent-sms/reply``   reply         ``{"result": 0, "errmsg": "OK"}``
``GET  /wechat/events``       URL check     the ``echostr`` verbatim
``POST /wechat/events``       event push    ``success``
==========================================  ======================================

A malformed body is answered 400, a failing sink 500 (the provider pushes
again later), a WeChat request with a bad signature 403.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from ..masking import Secret
from ..signing.wechat import verify_callback
from .parsers import (
    parse_aliyun_reports,
    parse_aliyun_uplink,
    parse_tencent_replies,
    parse_tencent_status,
    parse_wechat_event,
)
from .records import CallbackFormatError, CallbackRecord, Sink

__all__ = ["add_callback_routes", "callback_routes"]

log = logging.getLogger("adapters.callbacks")

Parser = Callable[[bytes], Sequence[CallbackRecord]]
Answer = Callable[[bool, str], web.Response]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _aliyun_answer(ok: bool, message: str) -> web.Response:
    return web.json_response({"code": 0 if ok else 1, "msg": "接收成功" if ok else message})


def _tencent_answer(ok: bool, message: str) -> web.Response:
    return web.json_response({"result": 0 if ok else 1, "errmsg": "OK" if ok else message})


async def _deliver(sink: Sink, records: Sequence[CallbackRecord]) -> bool:
    try:
        for record in records:
            await sink(record)
    except Exception:
        log.exception("callback sink failed")
        return False
    return True


def _json_handler(sink: Sink, parse: Parser, answer: Answer, label: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            records = parse(await request.read())
        except CallbackFormatError as error:
            log.warning("%s callback refused: %s", label, error)
            response = answer(False, str(error))
            response.set_status(400)
            return response
        if not await _deliver(sink, records):
            response = answer(False, "internal error")
            response.set_status(500)
            return response
        log.info("%s callback: %d record(s)", label, len(records))
        return answer(True, "")

    return handle


def _wechat_handlers(sink: Sink, token: str) -> tuple[Handler, Handler]:
    def signed(request: web.Request) -> bool:
        query = request.query
        return verify_callback(
            token, query.get("timestamp", ""), query.get("nonce", ""), query.get("signature", "")
        )

    async def verify(request: web.Request) -> web.StreamResponse:
        if not signed(request):
            return web.Response(status=403, text="invalid signature")
        return web.Response(text=request.query.get("echostr", ""))

    async def events(request: web.Request) -> web.StreamResponse:
        if not signed(request):
            log.warning("wechat event with an invalid signature refused")
            return web.Response(status=403, text="invalid signature")
        try:
            records = parse_wechat_event(await request.read())
        except CallbackFormatError as error:
            log.warning("wechat event refused: %s", error)
            return web.Response(status=400, text="bad request")
        if not await _deliver(sink, records):
            return web.Response(status=500, text="internal error")
        return web.Response(text="success")

    return verify, events


def callback_routes(
    sink: Sink,
    *,
    prefix: str = "/callbacks",
    wechat_token: str | Secret | None = None,
) -> list[web.RouteDef]:
    """Routes for every provider callback under ``prefix``; ``sink(record)`` is awaited
    for each ``DeliveryReport`` / ``InboundMessage``. The WeChat routes exist only
    when ``wechat_token`` (the account's server-configuration Token) is given."""
    base = prefix.rstrip("/")
    routes = [
        web.post(
            f"{base}/aliyun-sms/report",
            _json_handler(sink, parse_aliyun_reports, _aliyun_answer, "aliyun report"),
        ),
        web.post(
            f"{base}/aliyun-sms/uplink",
            _json_handler(sink, parse_aliyun_uplink, _aliyun_answer, "aliyun uplink"),
        ),
        web.post(
            f"{base}/tencent-sms/status",
            _json_handler(sink, parse_tencent_status, _tencent_answer, "tencent status"),
        ),
        web.post(
            f"{base}/tencent-sms/reply",
            _json_handler(sink, parse_tencent_replies, _tencent_answer, "tencent reply"),
        ),
    ]
    if wechat_token:
        token = wechat_token.reveal() if isinstance(wechat_token, Secret) else wechat_token
        verify, events = _wechat_handlers(sink, token)
        routes.append(web.get(f"{base}/wechat/events", verify, allow_head=False))
        routes.append(web.post(f"{base}/wechat/events", events))
    return routes


def add_callback_routes(router: web.UrlDispatcher, sink: Sink, **options: Any) -> None:
    """Add ``callback_routes(sink, **options)`` to an application's router."""
    router.add_routes(callback_routes(sink, **options))
