"""Shared primitives: RFC 3986 percent-encoding and hashes."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

__all__ = ["hmac_sha256", "parse_authorization", "percent_encode", "sha256_hex"]


def percent_encode(value: str) -> str:
    """RFC 3986: only ``A-Z a-z 0-9 - _ . ~`` stay, UTF-8 bytes, upper-case hex."""
    return quote(value, safe="-_.~")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def parse_authorization(value: str, algorithm: str) -> dict[str, str] | None:
    """``<algorithm> Credential=..,SignedHeaders=..,Signature=..`` → its parts
    (None unless all three are there)."""
    prefix = algorithm + " "
    if not value.startswith(prefix):
        return None
    parts: dict[str, str] = {}
    for item in value[len(prefix) :].split(","):
        name, sep, content = item.strip().partition("=")
        if not sep:
            return None
        parts[name] = content
    if not {"Credential", "SignedHeaders", "Signature"} <= parts.keys():
        return None
    return parts
