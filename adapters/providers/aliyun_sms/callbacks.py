"""Alibaba Cloud SMS callbacks: SmsReport (delivery receipts) and SmsUp (replies)."""

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
)

__all__ = [
    "REPORT_PATH",
    "UPLINK_PATH",
    "answer",
    "parse_aliyun_reports",
    "parse_aliyun_uplink",
    "routes",
]

REPORT_PATH = "/aliyun-sms/report"
UPLINK_PATH = "/aliyun-sms/uplink"
answer = json_answer("code", "msg", "接收成功")


def parse_aliyun_reports(body: bytes) -> list[DeliveryReport]:
    """Alibaba SmsReport push: a JSON array of receipts."""
    reports = []
    for item in json_items(body):
        success = item.get("success")
        reports.append(
            DeliveryReport(
                provider="aliyun-sms",
                provider_message_id=field_text(item, "biz_id"),
                recipient=phone_or_raw(field_text(item, "phone_number")),
                status=DeliveryStatus.DELIVERED
                if success is True or success == "true"
                else DeliveryStatus.FAILED,
                occurred_at=china_time(item.get("report_time")),
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
            sender=phone_or_raw(field_text(item, "phone_number")),
            text=field_text(item, "content"),
            received_at=china_time(item.get("send_time")),
            sign_name=str(item.get("sign_name", "")),
            extension=str(item.get("dest_code", "")),
            provider_message_id=str(item.get("sequence_id", "")),
            raw=item,
        )
        for item in json_items(body)
    ]


# SmsReport and SmsUp pushes, each answered ``{"code": 0, "msg": "接收成功"}``.
routes = json_routes(
    answer,
    [
        (REPORT_PATH, parse_aliyun_reports, "aliyun report"),
        (UPLINK_PATH, parse_aliyun_uplink, "aliyun uplink"),
    ],
)
