"""How an import's CSV file arrives: as the body itself, or as the ``file`` field of a
``multipart/form-data`` form (a browser form, ``curl -F file=@units.csv``); any other
body type is a 415. Real multipart bodies (aiohttp's FormData) against a running hub."""

from __future__ import annotations

import io
from typing import Any

import aiohttp

from tests.channels.conftest import DomainHub

UNITS = "编号,名称,上级单位,类型\nd,示范区,,区\ns1,新华街道,d,街道\n"


async def _post(h: DomainHub, path: str, data: Any, **headers: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(h.hub.http_url + path, data=data, headers={**h.hub.api_headers, **headers}) as r,
    ):
        return r.status, await r.json(content_type=None)


def _form(content: bytes | io.BytesIO, **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", content, filename="单位.csv", content_type="text/csv")
    return form


async def test_multipart_file_is_imported(dhub: DomainHub) -> None:
    status, body = await _post(dhub, "/api/directory/import?kind=units", _form(UNITS.encode("gbk")))
    assert status == 200, body
    assert body["created"] == 2 and body["encoding"] == "gbk"
    assert (await dhub.ok("GET", "/api/units/s1"))["name"] == "新华街道"


async def test_multipart_kind_may_be_a_form_field(dhub: DomainHub) -> None:
    status, body = await _post(dhub, "/api/directory/import", _form(UNITS.encode(), kind="units"))
    assert status == 200 and body["created"] == 2, body
    status, body = await _post(
        dhub, "/api/directory/import?kind=units", _form(UNITS.encode(), kind="members")
    )
    assert status == 400 and body["error"]["field"] == "kind", body


async def test_raw_body_still_imports(dhub: DomainHub) -> None:
    status, body = await _post(
        dhub, "/api/directory/import?kind=units", UNITS.encode(), **{"Content-Type": "text/csv"}
    )
    assert status == 200 and body["created"] == 2, body


async def test_multipart_without_file_field_is_400(dhub: DomainHub) -> None:
    form = aiohttp.FormData()
    form.add_field("csv", UNITS.encode(), filename="u.csv", content_type="text/csv")
    status, body = await _post(dhub, "/api/directory/import?kind=units", form)
    assert status == 400 and body["error"]["reason"] == "missing_file", body
    assert await dhub.ok("GET", "/api/units") == {"units": []}


async def test_other_body_types_are_415(dhub: DomainHub) -> None:
    for ctype, data in [
        ("application/x-www-form-urlencoded", UNITS.encode()),
        ("application/json", b'{"units": []}'),
    ]:
        status, body = await _post(
            dhub, "/api/directory/import?kind=units", data, **{"Content-Type": ctype}
        )
        assert status == 415, (ctype, body)
        error = body["error"]
        assert error["code"] == 107 and error["reason"] == "unsupported_media_type"
        assert "multipart/form-data" in error["message"] and ctype in error["message"]
    assert await dhub.ok("GET", "/api/units") == {"units": []}


async def test_multipart_has_the_same_size_limit(dhub: DomainHub) -> None:
    big = (UNITS + "x" * (3 << 20)).encode()  # above the 2 MiB body limit
    status, body = await _post(dhub, "/api/directory/import?kind=units", _form(io.BytesIO(big)))
    assert status == 413 and body["error"]["code"] == 106, body
    status, body = await _post(
        dhub, "/api/directory/import?kind=units", io.BytesIO(big), **{"Content-Type": "text/csv"}
    )
    assert status == 413 and body["error"]["code"] == 106, body
    assert await dhub.ok("GET", "/api/units") == {"units": []}
