"""Official Account event push (plain mode): the URL check and send-result events."""

from __future__ import annotations

from aiohttp import web

from ...core.callbacks import (
    CallbackFormatError,
    CallbackRoute,
    DeliveryReport,
    DeliveryStatus,
    Handler,
    Sink,
    deliver,
    log,
    parse_xml,
    unix_time,
    xml_text,
)
from .signing import verify_callback

__all__ = ["EVENTS_PATH", "parse_wechat_event", "routes", "wechat_handlers"]

EVENTS_PATH = "/wechat/events"


def parse_wechat_event(body: bytes) -> list[DeliveryReport]:
    """Official Account event push (plain mode). Template and subscription send
    results become reports; other events and messages give an empty list."""
    root = parse_xml(body)
    if xml_text(root, "MsgType") != "event":
        return []
    event = xml_text(root, "Event")
    openid = xml_text(root, "FromUserName")
    when = unix_time(xml_text(root, "CreateTime"))
    raw = {child.tag: (child.text or "").strip() for child in root}
    if event == "TEMPLATESENDJOBFINISH":
        status = xml_text(root, "Status")
        return [
            DeliveryReport(
                provider="wechat",
                provider_message_id=xml_text(root, "MsgID") or xml_text(root, "MsgId"),
                recipient=openid,
                status=_wechat_status(status),
                occurred_at=when,
                error_code="" if status == "success" else status,
                description=status,
                raw=raw,
            )
        ]
    if event == "subscribe_msg_sent_event":
        return [
            DeliveryReport(
                provider="wechat",
                provider_message_id=xml_text(item, "MsgID"),
                recipient=openid,
                status=DeliveryStatus.DELIVERED
                if xml_text(item, "ErrorCode") == "0"
                else DeliveryStatus.FAILED,
                occurred_at=when,
                error_code=xml_text(item, "ErrorCode"),
                description=xml_text(item, "ErrorStatus"),
                raw={**raw, **{child.tag: child.text or "" for child in item}},
            )
            for item in root.iter("List")
        ]
    return []


def _wechat_status(status: str) -> DeliveryStatus:
    return DeliveryStatus.DELIVERED if status.strip() == "success" else DeliveryStatus.FAILED


def wechat_handlers(sink: Sink, token: str) -> tuple[Handler, Handler]:
    def signed(request: web.Request) -> bool:
        query = request.query
        return verify_callback(
            token, query.get("timestamp", ""), query.get("nonce", ""), query.get("signature", "")
        )

    async def verify(request: web.Request) -> web.StreamResponse:
        if not signed(request):
            return web.Response(status=403, text="invalid signature")
        # the echostr goes back verbatim: plain text, never sniffed as a page
        return web.Response(
            text=request.query.get("echostr", ""), headers={"X-Content-Type-Options": "nosniff"}
        )

    async def events(request: web.Request) -> web.StreamResponse:
        if not signed(request):
            log.warning("wechat event with an invalid signature refused")
            return web.Response(status=403, text="invalid signature")
        try:
            records = parse_wechat_event(await request.read())
        except CallbackFormatError as error:
            log.warning("wechat event refused: %s", error)
            return web.Response(status=400, text="bad request")
        if not await deliver(sink, records):
            return web.Response(status=500, text="internal error")
        return web.Response(text="success")

    return verify, events


def routes(sink: Sink, secret: str | None = None) -> list[CallbackRoute]:
    """The URL check and the event push; none without ``secret`` (the account's
    server-configuration Token)."""
    if not secret:
        return []
    verify, events = wechat_handlers(sink, secret)
    return [
        CallbackRoute("GET", EVENTS_PATH, verify, "wechat check"),
        CallbackRoute("POST", EVENTS_PATH, events, "wechat event"),
    ]
