"""docs/openapi.json against what the hub really answers: schemathesis (property-based,
every phase, every check) against a ``hub serve`` subprocess, bounded (fixed seed, a
few examples per operation, no example database) so it runs in about a minute. Any
5xx, undocumented status, response outside its schema, valid request refused or
invalid one accepted fails the test; its output names the request to replay.

The findings it led to are pinned below with plain HTTP requests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.support.console import Served

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "openapi.json"
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
API_KEY = "schemathesis-key-0123456789"
TOKEN_SECRET = "t" * 40
# The routes a member calls with their connection token (not the API key).
MEMBER_ROUTES = ["GET /api/inbox", "GET /api/web/me", "GET /api/web/names", "GET /api/web/org"]


def _config(tmp: Path, ids: dict[str, str]) -> Path:
    """tests/schemathesis.toml, plus: an admin member's token for the member routes, and
    the ids of a notice and an alert made beforehand for the routes that need one to
    get past 404 (the run cannot make them: an audience must name real members). Not
    for routes that can delete what they name: a later step would miss it.
    """
    token = jwt.encode({"sub": "st-admin", "role": "admin"}, TOKEN_SECRET, algorithm="HS256")
    blocks = [
        f"include-name = {json.dumps(MEMBER_ROUTES)}\n"
        f'headers = {{ Authorization = "Bearer {token}" }}\n',
        'include-path-regex = "^/api/notices/\\\\{id\\\\}"\n'
        f'parameters = {{ "path.id" = "{ids["notice"]}" }}\n',
        'include-path = "/api/alerts/{id}/escalation"\n'
        f'parameters = {{ "path.id" = "{ids["alert"]}" }}\n',
    ]
    path = tmp / "schemathesis.toml"
    path.write_text(CONFIG.read_text() + "".join(f"\n[[operations]]\n{b}" for b in blocks))
    return path


def _seed(hub: Served) -> dict[str, str]:
    """A unit, a member, and a notice and an alert for that member."""
    assert _post(hub, "/api/units", {"id": "st-u", "name": "测试单位"})[0] == 201
    assert _post(hub, "/api/members", {"id": "st-m", "name": "测试", "unit": "st-u"})[0] == 201
    audience = {"members": ["st-m"]}
    status, notice = _post(
        hub, "/api/notices", {"title": "通知", "body": "正文", "audience": audience}
    )
    assert status == 201, notice
    status, alert = _post(hub, "/api/alerts", {"title": "警报", "audience": audience})
    assert status == 201, alert
    return {"notice": notice["notice"]["id"], "alert": alert["notice"]["id"]}


@pytest.fixture
def hub_under_test(tmp_path: Path) -> Iterator[Served]:
    env = {"HUB_API_KEY": API_KEY, "HUB_TOKEN_SECRET": TOKEN_SECRET}
    hub = Served(tmp_path, "--workers", "1", env=env)
    try:
        hub.wait_ready()
        yield hub
    finally:
        if hub.proc.poll() is None:
            hub.terminate()


def _request(
    hub: Served, method: str, path: str, body: bytes | None = None, auth: bool = True
) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {API_KEY}"} if auth else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(
        f"http://127.0.0.1:{hub.port}{path}", data=body, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_contract_failure(tmp_path: Path, hub_under_test: Served) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "SCHEMATHESIS_"))}
    r = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(_config(tmp_path, _seed(hub_under_test))),
            "--no-color",
            "run",
            str(DOC),
            "--url",
            f"http://127.0.0.1:{hub_under_test.port}",
            "--header",
            f"Authorization: Bearer {API_KEY}",
        ],
        capture_output=True,
        text=True,
        timeout=280,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stdout[-20000:] + r.stderr[-5000:]
    summary = r.stdout[r.stdout.index("SUMMARY") :]
    assert "Failures:" not in summary and "Errors:" not in summary, summary
    # every operation was run, and the member routes got past authentication
    assert re.search(r"Selected: (\d+)/\1\n\s*Tested: \1\n", summary), summary
    warnings = r.stdout[r.stdout.index("WARNINGS") :] if "WARNINGS" in r.stdout else ""
    assert "Authentication failed" not in warnings, warnings
    for route in ("/api/notices/{id}", "/api/alerts/{id}"):
        assert route not in warnings, warnings  # they reached the real logic
    assert hub_under_test.terminate() == 0
    assert "Traceback" not in hub_under_test.stderr(), hub_under_test.stderr()[-5000:]


def test_the_run_covers_every_documented_operation() -> None:
    """Only the provider callbacks are left out, and they are not in the document."""
    paths = json.loads(DOC.read_text())["paths"]
    assert not [p for p in paths if p.startswith("/callbacks")]
    assert "exclude" not in CONFIG.read_text()


# --- findings ----------------------------------------------------------------------


def test_405_lists_the_allowed_methods(hub_under_test: Served) -> None:
    for method, path, allowed in [
        ("DELETE", "/api/publish", {"POST"}),
        ("TRACE", "/api/units", {"GET", "POST"}),
        ("PUT", "/api/channels/chat:x/history", {"GET"}),
    ]:
        status, headers, body = _request(hub_under_test, method, path)
        assert status == 405, (method, path, body)
        assert {m.strip() for m in headers["Allow"].split(",")} >= allowed, headers
        assert set(body) == {"error"} and body["error"]["message"]


def _post(hub: Served, path: str, body: Any) -> tuple[int, Any]:
    status, _, answer = _request(hub, "POST", path, json.dumps(body).encode())
    return status, answer


def _notice(hub: Served, **extra: Any) -> tuple[int, Any]:
    assert _post(hub, "/api/units", {"id": "u1", "name": "一支部"})[0] in (201, 409)
    body = {"id": "m1", "name": "李娜", "unit": "u1"}
    assert _post(hub, "/api/members", body)[0] in (201, 409)
    body = {"title": "通知", "body": "正文", "audience": {"members": ["m1"]}, **extra}
    return _post(hub, "/api/notices", body)


@pytest.mark.parametrize("after", [1e308, "9" * 400, "367d"], ids=["1e308", "400 digits", "367d"])
def test_an_escalation_delay_too_large_is_a_400(hub_under_test: Served, after: object) -> None:
    """It was an infinite float turned into an int: a 500 with a traceback."""
    status, body = _notice(hub_under_test, escalation=[{"after": after, "via": "sms"}])
    assert status == 400, body
    assert body["error"]["code"] == 107 and "过长" in body["error"]["message"]
    for path in ("/api/alerts",):
        status, body = _post(
            hub_under_test,
            path,
            {
                "title": "警报",
                "audience": {"members": ["m1"]},
                "escalation": [{"after": after, "via": "sms"}],
            },
        )
        assert status == 400, body
    assert "Traceback" not in hub_under_test.stderr()


def test_escalation_rungs_run_in_time_order(hub_under_test: Served) -> None:
    """Any schema-valid ladder is accepted: rungs written out of order are sorted."""
    ladder = [{"after": "5m", "via": "sms"}, {"after": 30, "via": "wechat"}]
    status, body = _notice(hub_under_test, escalation=ladder)
    assert status == 201, body
    rungs = body["notice"]["policy"]["ladder"]
    assert rungs == [{"after_ms": 30_000, "via": "wechat"}, {"after_ms": 300_000, "via": "sms"}]


def test_receipts_format_is_json_or_csv(hub_under_test: Served) -> None:
    status, body = _notice(hub_under_test)
    assert status == 201, body
    receipts = f"/api/notices/{body['notice']['id']}/receipts"
    status, _, answer = _request(hub_under_test, "GET", receipts + "?format=xml")
    assert status == 400 and "format" in answer["error"]["message"], answer
    for query in ("", "?format=", "?format=json"):
        status, _, answer = _request(hub_under_test, "GET", receipts + query)
        assert status == 200 and answer["total"] == 1, answer


def test_empty_query_parameters_mean_not_given(hub_under_test: Served) -> None:
    """What the document says with allowEmptyValue (HTML forms send empty fields)."""
    for path in (
        "/api/members?unit=&q=&role=&flowing=&limit=&offset=",
        "/api/units?parent=&root=&q=",
        "/api/groups?member=",
        "/api/notices?member=&sender=&limit=&offset=",
        "/api/channels/chat:x/history?since=&epoch=&before=&limit=",
    ):
        status, _, answer = _request(hub_under_test, "GET", path)
        assert status == 200, (path, answer)
    doc = json.loads(DOC.read_text())
    params = doc["paths"]["/api/members"]["get"]["parameters"]
    assert all(p.get("allowEmptyValue") for p in params)


def test_an_attachment_size_written_as_1024_0_is_an_integer(hub_under_test: Served) -> None:
    """JSON (and the document's "integer") makes no difference between 1024 and 1024.0."""
    attachment = {"name": "报表.xlsx", "url": "/files/a", "size": 1024.0, "sha256": "a" * 64}
    status, body = _notice(hub_under_test, attachments=[attachment])
    assert status == 201, body
    assert body["notice"]["attachments"][0]["size"] == 1024
    attachment["size"] = 1024.5
    status, body = _notice(hub_under_test, attachments=[attachment], idem="second")
    assert status == 400, body


def test_every_operation_with_a_body_documents_and_answers_413(hub_under_test: Served) -> None:
    """A body above the server's limit (2 MiB) is a 413 with the Error body, everywhere."""
    big = b'{"a": "' + b"x" * (2 << 20) + b'"}'
    doc = json.loads(DOC.read_text())
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if "requestBody" not in op:
                continue
            assert "413" in op["responses"], (method, path)
            url = re.sub(r"\{[a-z]+\}", "x", path) + ("?kind=units" if "import" in path else "")
            status, _, body = _request(hub_under_test, method.upper(), url, big)
            assert status == 413, (method, path, body)
            assert body["error"]["code"] == 106, body
            checked += 1
    assert checked >= 15


def test_a_member_token_gets_a_documented_refusal_everywhere(hub_under_test: Served) -> None:
    """Not admin: the API-key routes answer 401, the admin routes 403, each documented."""
    member = jwt.encode({"sub": "m-plain"}, TOKEN_SECRET, algorithm="HS256")
    doc = json.loads(DOC.read_text())
    refused = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            url = re.sub(r"\{[a-z]+\}", "x", path) + ("?kind=units" if "directory" in path else "")
            req = urllib.request.Request(
                f"http://127.0.0.1:{hub_under_test.port}{url}",
                data=b"{}" if "requestBody" in op else None,
                method=method.upper(),
                headers={"Authorization": f"Bearer {member}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
                assert set(json.loads(e.read())) >= {"error"}, (method, path)
            assert str(status) in op["responses"], (method, path, status)
            if method != "get" or not path.startswith(("/api/web/", "/api/inbox")):
                refused += status in (401, 403)
    assert refused >= 35


def test_reminding_a_recalled_notice_is_a_409(hub_under_test: Served) -> None:
    """The notice's state is the conflict, not the request: 409 (it was a 400)."""
    status, body = _notice(hub_under_test)
    assert status == 201, body
    path = f"/api/notices/{body['notice']['id']}"
    assert _post(hub_under_test, path + "/remind", {})[0] == 200
    assert _post(hub_under_test, path + "/recall", {})[0] == 200
    status, answer = _post(hub_under_test, path + "/remind", {})
    assert status == 409, answer
    assert answer == {"error": {"code": 107, "message": "通知已撤回，不能提醒"}}
    assert _post(hub_under_test, "/api/notices/nope/remind", {})[0] == 404
