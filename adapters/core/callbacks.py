"""What every provider's callbacks share: the typed records made from delivery reports
and inbound messages, the body parsing helpers and the JSON route handler."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Literal

import orjson
from aiohttp import web

from ..errors import ValidationError
from ..masking import masked_logger
from ..phone import normalize_phone

__all__ = [
    "CHINA",
    "Answer",
    "CallbackFormatError",
    "CallbackRecord",
    "CallbackRoute",
    "DeliveryReport",
    "DeliveryStatus",
    "Handler",
    "InboundMessage",
    "Parser",
    "Sink",
    "china_time",
    "deliver",
    "field_text",
    "json_answer",
    "json_handler",
    "json_items",
    "json_routes",
    "parse_xml",
    "phone_or_raw",
    "unix_time",
    "xml_text",
]

log = masked_logger("adapters.callbacks")


class CallbackFormatError(ValueError):
    """A callback body does not have the provider's documented shape."""


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The provider's final word on one message to one recipient.

    Match it to the attempt by ``provider_message_id`` (Alibaba ``BizId``,
    Tencent ``SerialNo``, Official Account ``msgid`` — the ``message_id`` of the
    ``SendResult``) and, when the provider echoes it, ``reference`` (Alibaba
    ``OutId``). ``recipient`` is E.164 for SMS and the OpenID for WeChat.
    Reports can repeat: ``dedupe_key`` identifies one.
    """

    provider: str
    provider_message_id: str
    recipient: str
    status: DeliveryStatus
    occurred_at: datetime | None
    error_code: str = ""
    description: str = ""
    reference: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def dedupe_key(self) -> tuple[str, str, str, str]:
        return (self.provider, self.provider_message_id, self.recipient, self.error_code)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a person sent to us (an SMS reply / uplink)."""

    provider: str
    sender: str
    text: str
    received_at: datetime | None
    sign_name: str = ""
    extension: str = ""
    provider_message_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


CallbackRecord = DeliveryReport | InboundMessage
Sink = Callable[[CallbackRecord], Awaitable[None]]
Parser = Callable[[bytes], Sequence[CallbackRecord]]
Answer = Callable[[bool, str], web.Response]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class CallbackRoute:
    """One callback route of a provider, ``path`` relative to ``HUB_CALLBACK_PREFIX``."""

    method: Literal["GET", "POST"]
    path: str
    handler: Handler
    label: str


CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


def json_items(body: bytes) -> list[Mapping[str, Any]]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CallbackFormatError("body is not JSON") from exc
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, dict) for item in items):
        raise CallbackFormatError("expected a JSON object or an array of objects")
    return items


def field_text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if value is None:
        raise CallbackFormatError(f"missing field {name!r}")
    return str(value)


def china_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
    except ValueError:
        return None


def unix_time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def phone_or_raw(raw: str) -> str:
    try:
        return normalize_phone(raw)
    except ValidationError:
        return raw


def parse_xml(body: bytes) -> ElementTree.Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise CallbackFormatError("XML with a DOCTYPE or entities is refused")
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise CallbackFormatError("body is not XML") from exc


def xml_text(node: ElementTree.Element, name: str) -> str:
    found = node.findtext(name)
    return found.strip() if found is not None else ""


async def deliver(sink: Sink, records: Sequence[CallbackRecord]) -> bool:
    try:
        for record in records:
            await sink(record)
    except Exception:
        log.exception("callback sink failed")
        return False
    return True


def json_handler(sink: Sink, parse: Parser, answer: Answer, label: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            records = parse(await request.read())
        except CallbackFormatError as error:
            log.warning("%s callback refused: %s", label, error)
            response = answer(False, str(error))
            response.set_status(400)
            return response
        if not await deliver(sink, records):
            response = answer(False, "internal error")
            response.set_status(500)
            return response
        log.info("%s callback: %d record(s)", label, len(records))
        return answer(True, "")

    return handle


def json_answer(status_key: str, message_key: str, ok_message: str) -> Answer:
    """The provider's JSON answer: ``{status_key: 0, message_key: ok_message}`` on
    success, ``{status_key: 1, message_key: <what was wrong>}`` otherwise."""

    def answer(ok: bool, message: str) -> web.Response:
        return web.json_response(
            {status_key: 0 if ok else 1, message_key: ok_message if ok else message}
        )

    return answer


def json_routes(
    answer: Answer, routes: Sequence[tuple[str, Parser, str]]
) -> Callable[[Sink, str | None], list[CallbackRoute]]:
    """A provider's ``callback_routes``: POST routes ``(path, parse, label)`` whose
    JSON bodies ``parse`` reads, each answered with ``answer``."""

    def build(sink: Sink, secret: str | None = None) -> list[CallbackRoute]:
        return [
            CallbackRoute("POST", path, json_handler(sink, parse, answer, label), label)
            for path, parse, label in routes
        ]

    return build
