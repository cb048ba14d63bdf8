"""Pure parsers: provider callback bodies → ``DeliveryReport`` / ``InboundMessage``."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from ..errors import ValidationError
from ..phone import normalize_phone
from .records import CallbackFormatError, DeliveryReport, DeliveryStatus, InboundMessage

__all__ = [
    "parse_aliyun_reports",
    "parse_aliyun_uplink",
    "parse_tencent_replies",
    "parse_tencent_status",
    "parse_wechat_event",
]

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


def _json_items(body: bytes) -> list[Mapping[str, Any]]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CallbackFormatError("body is not JSON") from exc
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, dict) for item in items):
        raise CallbackFormatError("expected a JSON object or an array of objects")
    return items


def _field(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if value is None:
        raise CallbackFormatError(f"missing field {name!r}")
    return str(value)


def _china_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
    except ValueError:
        return None


def _unix_time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _phone(raw: str) -> str:
    try:
        return normalize_phone(raw)
    except ValidationError:
        return raw


def parse_aliyun_reports(body: bytes) -> list[DeliveryReport]:
    """Alibaba SmsReport push: a JSON array of receipts."""
    reports = []
    for item in _json_items(body):
        success = item.get("success")
        reports.append(
            DeliveryReport(
                provider="aliyun-sms",
                provider_message_id=_field(item, "biz_id"),
                recipient=_phone(_field(item, "phone_number")),
                status=DeliveryStatus.DELIVERED
                if success is True or success == "true"
                else DeliveryStatus.FAILED,
                occurred_at=_china_time(item.get("report_time")),
                error_code=str(item.get("err_code", "")),
                description=str(item.get("err_msg", "")),
                reference=str(item["out_id"]) if item.get("out_id") else None,
                raw=item,
            )
        )
    return reports


def parse_aliyun_uplink(body: bytes) -> list[InboundMessage]:
    """Alibaba SmsUp push: a JSON array of messages people sent to the signature."""
    return [
        InboundMessage(
            provider="aliyun-sms",
            sender=_phone(_field(item, "phone_number")),
            text=_field(item, "content"),
            received_at=_china_time(item.get("send_time")),
            sign_name=str(item.get("sign_name", "")),
            extension=str(item.get("dest_code", "")),
            provider_message_id=str(item.get("sequence_id", "")),
            raw=item,
        )
        for item in _json_items(body)
    ]


def parse_tencent_status(body: bytes) -> list[DeliveryReport]:
    """Tencent SMS status callback: a JSON array keyed by ``sid`` (= ``SerialNo``)."""
    return [
        DeliveryReport(
            provider="tencent-sms",
            provider_message_id=_field(item, "sid"),
            recipient=_phone(f"+{item.get('nationcode', '86')}{_field(item, 'mobile')}"),
            status=DeliveryStatus.DELIVERED
            if item.get("report_status") == "SUCCESS"
            else DeliveryStatus.FAILED,
            occurred_at=_china_time(item.get("user_receive_time")),
            error_code=str(item.get("errmsg", "")),
            description=str(item.get("description", "")),
            raw=item,
        )
        for item in _json_items(body)
    ]


def parse_tencent_replies(body: bytes) -> list[InboundMessage]:
    """Tencent SMS reply callback: one JSON object (an array is accepted too)."""
    return [
        InboundMessage(
            provider="tencent-sms",
            sender=_phone(f"+{item.get('nationcode', '86')}{_field(item, 'mobile')}"),
            text=_field(item, "text"),
            received_at=_unix_time(item.get("time")),
            sign_name=str(item.get("sign", "")),
            extension=str(item.get("extend") or ""),
            raw=item,
        )
        for item in _json_items(body)
    ]


def _xml(body: bytes) -> ElementTree.Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise CallbackFormatError("XML with a DOCTYPE or entities is refused")
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise CallbackFormatError("body is not XML") from exc


def _text(node: ElementTree.Element, name: str) -> str:
    found = node.findtext(name)
    return found.strip() if found is not None else ""


def parse_wechat_event(body: bytes) -> list[DeliveryReport]:
    """Official Account event push (plain mode). Template and subscription send
    results become reports; other events and messages give an empty list."""
    root = _xml(body)
    if _text(root, "MsgType") != "event":
        return []
    event = _text(root, "Event")
    openid = _text(root, "FromUserName")
    when = _unix_time(_text(root, "CreateTime"))
    raw = {child.tag: (child.text or "").strip() for child in root}
    if event == "TEMPLATESENDJOBFINISH":
        status = _text(root, "Status")
        return [
            DeliveryReport(
                provider="wechat",
                provider_message_id=_text(root, "MsgID") or _text(root, "MsgId"),
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
                provider_message_id=_text(item, "MsgID"),
                recipient=openid,
                status=DeliveryStatus.DELIVERED
                if _text(item, "ErrorCode") == "0"
                else DeliveryStatus.FAILED,
                occurred_at=when,
                error_code=_text(item, "ErrorCode"),
                description=_text(item, "ErrorStatus"),
                raw={**raw, **{child.tag: child.text or "" for child in item}},
            )
            for item in root.iter("List")
        ]
    return []


def _wechat_status(status: str) -> DeliveryStatus:
    return DeliveryStatus.DELIVERED if status.strip() == "success" else DeliveryStatus.FAILED
