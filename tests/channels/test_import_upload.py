"""How an import's CSV file arrives: as the body itself, or as the ``file`` field of a
``multipart/form-data`` form (a browser form, ``curl -F file=@units.csv``); any other
body type is a 415. Real multipart bodies (aiohttp's FormData) against a running hub."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.channels.conftest import DomainHub
from tests.support.rawhttp import exchange

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


async def test_a_body_over_the_limit_is_413_whatever_its_type(dhub: DomainHub) -> None:
    """The size limit comes before the type (it was a 415): with a Content-Length and
    chunked (no length known in advance), also with a bad kind in the query."""
    big = b'{"a": "' + b"x" * (2 << 20) + b'"}'

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 1 << 16):
            yield big[start : start + (1 << 16)]

    for query, data in [
        ("?kind=units", big),
        ("?kind=units", chunked()),
        ("?kind=nope", big),
        ("", big),
    ]:
        for ctype in ("application/json", "application/x-www-form-urlencoded"):
            body = io.BytesIO(data) if isinstance(data, bytes) else chunked()
            status, answer = await _post(
                dhub, "/api/directory/import" + query, body, **{"Content-Type": ctype}
            )
            assert status == 413 and answer["error"]["code"] == 106, (query, ctype, answer)
    status, answer = await _post(
        dhub, "/api/directory/import?kind=units", b"{}", **{"Content-Type": "application/json"}
    )
    assert status == 415, answer


# --- multipart bodies as raw bytes (what a broken or hostile client sends) ----------

BOUNDARY = b"72dca1b870268664373afc1f1179720a"


def _part(head: bytes, value: bytes) -> bytes:
    return b"--" + BOUNDARY + b"\r\n" + head + b"\r\n\r\n" + value + b"\r\n"


def _field(name: bytes, value: bytes, extra: bytes = b"") -> bytes:
    return _part(b'Content-Disposition: form-data; name="' + name + b'"' + extra, value)


FILE = _field(b"file", UNITS.encode(), b'; filename="u.csv"\r\nContent-Type: text/csv')
END = b"--" + BOUNDARY + b"--\r\n"


async def _raw_import(h: DomainHub, body: bytes, query: bytes = b"kind=units") -> tuple[int, Any]:
    head = (
        b"POST /api/directory/import?" + query + b" HTTP/1.1\r\nHost: hub\r\n"
        b"Connection: close\r\nAuthorization: " + h.hub.api_headers["Authorization"].encode()
    )
    head += b"\r\nContent-Type: multipart/form-data; boundary=" + BOUNDARY
    head += b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    response = await exchange(h.hub.port, head + body, timeout=30)
    return response.status, response.json()


MALFORMED = {
    # what the contract run sent: control characters in part names (and odd query keys)
    "control characters in a part name": _field(b"\xc3\x86\xc3\xa4\x0ce\x18", b"null")
    + _field(b"", b"{}")
    + FILE,
    "undecodable bytes in a part header": _part(
        b'Content-Disposition: form-data; name="x"\r\nX-\xff: \xfe', b"1"
    )
    + FILE,
    "a part header line too long": _field(b"file", b"a", b'; filename="' + b"f" * 9000 + b'"'),
    "too many part headers": _field(
        b"file", b"a", b"".join(b"\r\nX-%d: y" % i for i in range(200))
    ),
    "a malformed Content-Disposition": _part(b"Content-Disposition: \xc3\xbf;;==", b"x") + FILE,
    "an undecodable filename*": _field(b"file", UNITS.encode(), b"; filename*=utf-8''%ff%fe"),
    "a _charset_ field too long": _field(b"_charset_", b"x" * 100) + FILE,
    "an unknown _charset_": _field(b"_charset_", b"no-such-charset") + FILE,
    "no final boundary": FILE,
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_multipart_is_a_400(dhub: DomainHub, case: str) -> None:
    """Each was a 500 (aiohttp's part-head errors are not ValueErrors) or, for a bad
    Content-Disposition, a warning with the client's bytes on stderr."""
    body = MALFORMED[case] + (b"" if case == "no final boundary" else END)
    status, answer = await _raw_import(dhub, body, b"kind=units&%1E%0C=null&%C2%96=P")
    assert status == 400, answer
    assert answer["error"]["code"] == 107 and answer["error"]["reason"] == "bad_multipart"
    assert "multipart/form-data" in answer["error"]["message"]
    assert await dhub.ok("GET", "/api/units") == {"units": []}


async def test_odd_but_well_formed_parts_are_ignored(dhub: DomainHub) -> None:
    """Parts with other names (empty, non-ASCII), a part after the file and a file
    sent as application/octet-stream with a charset: the file is imported."""
    body = (
        _field("Æä名".encode(), b"null")
        + _field(b"", b"{}")
        + _field(
            b"file",
            UNITS.encode(),
            b'; filename="\xe5\x8d\x95\xe4\xbd\x8d.csv"\r\n'
            b"Content-Type: application/octet-stream; charset=utf-8",
        )
        + _field(b"after", b"x")
        + END
    )
    status, answer = await _raw_import(dhub, body)
    assert status == 200 and answer["created"] == 2, answer


async def test_a_kind_field_outside_the_kinds_is_a_400(dhub: DomainHub) -> None:
    body = _field(b"kind", b"__not_in_enum__") + FILE + END
    status, answer = await _raw_import(dhub, body, b"%1E%0C=null")
    assert status == 400 and answer["error"]["reason"] == "bad_kind", answer
    assert await dhub.ok("GET", "/api/units") == {"units": []}
