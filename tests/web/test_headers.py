"""The page's security headers through real HTTP, and its Content-Security-Policy in
Debian's Chromium: the page may open a WebSocket to its own hub and to nowhere else."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Hub, People


def get(url: str, **headers: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def test_csp_connect_src_is_the_own_origin_only(hub: Hub) -> None:
    status, headers = get(hub.url + "/")
    assert status == 200
    directives = {
        d.split()[0]: d.split()[1:] for d in headers["Content-Security-Policy"].split("; ")
    }
    assert directives["connect-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]


def test_every_page_answer_says_nosniff(hub: Hub) -> None:
    status, headers = get(hub.url + "/static/js/hub.js")
    assert status == 200
    etag = headers["ETag"]
    answers = [
        get(hub.url + "/"),
        get(hub.url + "/index.html"),
        get(hub.url + "/static/js/hub.js"),
        get(hub.url + "/static/js/hub.js", **{"If-None-Match": etag}),
        get(hub.url + "/static/nothing-here.js"),
        get(hub.url + "/api/web/config"),
        get(hub.url + "/api/web/me"),  # 401
        get(hub.url + "/nowhere"),
        get(hub.url + "/ws"),  # not an upgrade: the hub's own 426
    ]
    assert [s for s, _ in answers] == [200, 200, 200, 304, 404, 200, 401, 404, 426]
    for status, headers in answers:
        assert headers["X-Content-Type-Options"] == "nosniff", status


def test_browser_may_reach_its_own_hub_and_no_other_host(hub: Hub, people: People) -> None:
    token = hub.token("zhang.wei", name="张伟")
    page = people.open(f"{hub.url}/#token={token}", who="zhang.wei")
    # the page's own WebSocket (ws://127.0.0.1:port, the page's origin) is allowed
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    port = hub.proc.port
    outcome = page.evaluate(
        """url => new Promise(done => {
            document.addEventListener('securitypolicyviolation',
                e => done('blocked ' + e.violatedDirective + ' ' + e.blockedURI));
            let ws;
            try { ws = new WebSocket(url); } catch (e) { done('blocked ' + e.name); return; }
            ws.onopen = () => { ws.close(); done('opened'); };
            setTimeout(() => done('timeout'), 5000);
        })""",
        f"ws://localhost:{port}/ws",  # the same hub under another host name
    )
    assert outcome.startswith("blocked"), outcome
    assert "connect-src" in outcome or "SecurityError" in outcome, outcome
    same = page.evaluate(
        """url => new Promise(done => {
            const ws = new WebSocket(url);
            ws.onopen = () => { ws.close(); done('opened'); };
            ws.onerror = () => done('error');
        })""",
        f"ws://127.0.0.1:{port}/ws",
    )
    assert same == "opened"
