"""WeChat server-callback signature (plain mode)."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["callback_signature", "verify_callback"]


def callback_signature(token: str, timestamp: str, nonce: str) -> str:
    """``sha1(''.join(sorted([token, timestamp, nonce])))`` in lower hex."""
    joined = "".join(sorted([token, timestamp, nonce]))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


def verify_callback(token: str, timestamp: str, nonce: str, signature: str) -> bool:
    expected = callback_signature(token, timestamp, nonce)
    return hmac.compare_digest(expected, signature.lower())
