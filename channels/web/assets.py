"""The page's static files, served from memory by the hub itself.

Every file under ``static/`` is read once at start, with a strong ``ETag`` (a
digest of its bytes) and a gzip copy for text; a request with a matching
``If-None-Match`` gets 304, and every answer says ``Cache-Control: no-cache`` so a
phone revalidates (a few hundred bytes) instead of downloading again, and sees a
new version after an upgrade at once."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

__all__ = ["STATIC_DIR", "Asset", "Assets", "nosniff"]

STATIC_DIR: Final = Path(__file__).parent / "static"
_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
_HEADERS: Final = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The page loads nothing from elsewhere; attachment links open in a new tab. Inline
# styles are allowed for the printable 回执单, opened from a blob: URL (it inherits this).
# connect-src 'self' covers the hub's own ws:// and wss:// origin (CSP Level 3, which
# Chromium, Firefox and Safari implement; tests/web/test_headers.py checks Chromium):
# the page may talk to its own hub only.
_CSP: Final = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str

    @classmethod
    def load(cls, path: Path) -> Asset:
        body = path.read_bytes()
        ctype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        ctype = ctype or "application/octet-stream"
        squeezed = gzip.compress(body, 9, mtime=0) if ctype.startswith("text/") else None
        if squeezed is not None and len(squeezed) >= len(body):
            squeezed = None
        return cls(body, squeezed, ctype, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')

    def response(self, request: web.Request) -> web.Response:
        headers = dict(_HEADERS, ETag=self.etag, Vary="Accept-Encoding")
        if self.content_type.startswith("text/html"):
            headers["Content-Security-Policy"] = _CSP
        if self.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        body = self.body
        if self.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
            body, headers["Content-Encoding"] = self.gzipped, "gzip"
        resp = web.Response(body=body, headers=headers)
        resp.content_type, _, charset = self.content_type.partition("; charset=")
        if charset:
            resp.charset = charset
        return resp


class Assets:
    """The files of ``root`` by their path relative to it (``"js/app.js"``)."""

    def __init__(self, root: Path = STATIC_DIR) -> None:
        self.files = {
            p.relative_to(root).as_posix(): Asset.load(p)
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_get("/index.html", self.index)
        app.router.add_get("/static/{path:.+}", self.static)

    async def index(self, request: web.Request) -> web.Response:
        return self.files["index.html"].response(request)

    async def static(self, request: web.Request) -> web.Response:
        asset = self.files.get(request.match_info["path"])
        if asset is None:
            raise web.HTTPNotFound(text="没有这个文件")
        return asset.response(request)


async def nosniff(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer (page, assets, their errors, the API) says
    ``X-Content-Type-Options: nosniff``, so no browser reads a JSON error or a CSV as
    HTML or script."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
