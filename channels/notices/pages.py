"""Response headers of the hub's own HTML pages outside the web app (the printable
回执单 and the ack-link pages): a strict Content-Security-Policy that allows only
the page's own inline style (and script) by hash, no sniffing, no referrer, no
framing. Pages whose URL carries a signed token are also never cached."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

__all__ = ["csp", "inline_hash", "page_headers"]


def inline_hash(text: str) -> str:
    """The CSP source for one inline ``<style>``/``<script>`` element's exact text."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def csp(styles: Sequence[str], scripts: Sequence[str] = (), *, form: bool = False) -> str:
    """Nothing loads, runs or frames except the given inline elements; a form may
    post only back to the hub."""
    style_src = " ".join(inline_hash(s) for s in styles) or "'none'"
    script_src = " ".join(inline_hash(s) for s in scripts) or "'none'"
    form_action = "'self'" if form else "'none'"
    return (
        f"default-src 'none'; style-src {style_src}; script-src {script_src}; "
        f"img-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {form_action}"
    )


def page_headers(policy: str, *, token_in_url: bool = False) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
    if token_in_url:
        headers["Cache-Control"] = "no-store"
    return headers
