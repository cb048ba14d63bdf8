"""Notices with receipts: a document to an audience, receipts moving
sent → delivered → read → acked, a hash-chained ledger, exports and ack links."""

from __future__ import annotations

from channels.notices.api import NoticesApi
from channels.notices.links import AckLinks
from channels.notices.model import Notice
from channels.notices.ops import install_ops
from channels.notices.service import Clock, Notices
from channels.notices.states import ReceiptState

__all__ = [
    "AckLinks",
    "Clock",
    "Notice",
    "Notices",
    "NoticesApi",
    "ReceiptState",
    "install_ops",
]
