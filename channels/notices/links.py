"""Signed one-time ack links (签收链接) for members who never open the app.

A link is ``{base}/ack/{token}``; the token is ``payload.signature`` where the
payload (base64url) names the notice, the member and the expiry, and the signature
is HMAC-SHA256 with a server secret. ``GET`` shows a small zh-CN page with a 签收
button; ``POST`` records the ack in the ledger with channel ``link``. Once the
receipt is acked the link only says so (it acts once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from channels.notices.pages import csp

__all__ = ["ACK_CSP", "AckLinks", "LinkClaim", "ack_page"]

_TTL: Final = 7 * 86400
_STYLE: Final = """body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}
h1{font-size:1.3em}.body{white-space:pre-wrap;background:#f6f6f6;padding:1em;margin:1em 0}
button{font-size:1.2em;padding:.6em 3em;background:#c00;color:#fff;border:0;border-radius:4px}"""
ACK_CSP: Final = csp([_STYLE], form=True)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class LinkClaim:
    notice: str
    member: str
    expires: int  # seconds since the epoch


class AckLinks:
    def __init__(self, secret: bytes, base_url: Callable[[], str], ttl: int = _TTL) -> None:
        self._key = hmac.new(secret, b"tongzhi ack link v1", hashlib.sha256).digest()
        self._base_url = base_url
        self.ttl = ttl

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:18])

    def token(self, notice: str, member: str, now: float) -> str:
        payload = _b64(f"{notice}\n{member}\n{int(now) + self.ttl}".encode())
        return f"{payload}.{self._sign(payload)}"

    def url(self, notice: str, member: str, now: float) -> str:
        return f"{self._base_url().rstrip('/')}/ack/{self.token(notice, member, now)}"

    def claim(self, token: str, now: float) -> LinkClaim | str:
        """The claim, or why the token is refused (zh-CN)."""
        payload, _, sig = token.partition(".")
        if not payload or not sig or not hmac.compare_digest(sig, self._sign(payload)):
            return "链接无效"
        try:
            notice, member, exp = _unb64(payload).decode().split("\n")
            expires = int(exp)
        except ValueError:
            return "链接无效"
        if now > expires:
            return "链接已过期，请登录客户端签收或联系发文单位"
        return LinkClaim(notice, member, expires)


def ack_page(title: str, message: str, form: bool = False, body: str = "") -> str:
    e = html.escape
    button = '<form method="post"><button type="submit">签收</button></form>' if form else ""
    text = f'<div class="body">{e(body)}</div>' if body else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>通知签收</title>
<style>{_STYLE}</style>
</head><body><h1>{e(title)}</h1>{text}<p>{e(message)}</p>{button}</body></html>
"""


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
