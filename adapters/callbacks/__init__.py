"""Delivery reports and inbound messages: parsers, records and aiohttp routes."""

from __future__ import annotations

from ..core.callbacks import (
    CallbackFormatError,
    CallbackRecord,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    Sink,
)
from ..providers.aliyun_sms.callbacks import parse_aliyun_reports, parse_aliyun_uplink
from ..providers.tencent_sms.callbacks import parse_tencent_replies, parse_tencent_status
from ..providers.wechat_oa.callbacks import parse_wechat_event
from .routes import add_callback_routes, callback_routes

__all__ = [
    "CallbackFormatError",
    "CallbackRecord",
    "DeliveryReport",
    "DeliveryStatus",
    "InboundMessage",
    "Sink",
    "add_callback_routes",
    "callback_routes",
    "parse_aliyun_reports",
    "parse_aliyun_uplink",
    "parse_tencent_replies",
    "parse_tencent_status",
    "parse_wechat_event",
]
