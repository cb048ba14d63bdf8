"""Tencent Cloud SMS callbacks: delivery status and replies."""

from __future__ import annotations

from ...core.callbacks import (
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    china_time,
    field_text,
    json_answer,
    json_items,
    json_routes,
    phone_or_raw,
    unix_time,
)

__all__ = [
    "REPLY_PATH",
    "STATUS_PATH",
    "answer",
    "parse_tencent_replies",
    "parse_tencent_status",
    "routes",
]

STATUS_PATH = "/tencent-sms/status"
REPLY_PATH = "/tencent-sms/reply"
answer = json_answer("result", "errmsg", "OK")


def parse_tencent_status(body: bytes) -> list[DeliveryReport]:
    """Tencent SMS status callback: a JSON array keyed by ``sid`` (= ``SerialNo``)."""
    return [
        DeliveryReport(
            provider="tencent-sms",
            provider_message_id=field_text(item, "sid"),
            recipient=phone_or_raw(f"+{item.get('nationcode', '86')}{field_text(item, 'mobile')}"),
            status=DeliveryStatus.DELIVERED
            if item.get("report_status") == "SUCCESS"
            else DeliveryStatus.FAILED,
            occurred_at=china_time(item.get("user_receive_time")),
            error_code=str(item.get("errmsg", "")),
            description=str(item.get("description", "")),
            raw=item,
        )
        for item in json_items(body)
    ]


def parse_tencent_replies(body: bytes) -> list[InboundMessage]:
    """Tencent SMS reply callback: one JSON object (an array is accepted too)."""
    return [
        InboundMessage(
            provider="tencent-sms",
            sender=phone_or_raw(f"+{item.get('nationcode', '86')}{field_text(item, 'mobile')}"),
            text=field_text(item, "text"),
            received_at=unix_time(item.get("time")),
            sign_name=str(item.get("sign", "")),
            extension=str(item.get("extend") or ""),
            raw=item,
        )
        for item in json_items(body)
    ]


# Status and reply callbacks, each answered ``{"result": 0, "errmsg": "OK"}``.
routes = json_routes(
    answer,
    [
        (STATUS_PATH, parse_tencent_status, "tencent status"),
        (REPLY_PATH, parse_tencent_replies, "tencent reply"),
    ],
)
