"""The directory's HTTP API under ``/api/``: units, members, groups, CSV import
and export. Every route needs the API key or an admin token (see
:func:`channels.authz.is_admin`); errors are ``{"error": {"code", "message", …}}``."""

from __future__ import annotations

import hmac
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import (
    BadContentDispositionHeader,
    BadContentDispositionParam,
    content_disposition_filename,
    parse_content_disposition,
)

from channels.authz import is_admin
from channels.directory import store
from channels.directory.csvio import EXPORT_HEADERS, KINDS, write_csv
from channels.directory.errors import DirectoryError, Invalid
from channels.directory.importer import run_import
from channels.directory.model import (
    KIND_LABELS,
    ROLE_LABELS,
    ROLES,
    Group,
    Member,
    Unit,
    normalize_id,
)
from channels.directory.service import Directory
from channels.params import query_int
from hub.auth import TokenVerifier
from hub.protocol.errors import Code, HubError
from hub.server.http import API_KEY, json_response, read_json

__all__ = ["DirectoryApi", "Unread", "require_admin"]

Unread = Callable[[str], Awaitable[dict[str, int]]]
RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_MAX_LIMIT: Final = 1000


def require_admin(request: web.Request, verifier: TokenVerifier) -> str:
    """The caller: ``"api-key"`` or the admin token's member; 401 / 403 otherwise."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise HubError(
            Code.UNAUTHORIZED,
            "'Authorization: Bearer <HUB_API_KEY or admin token>' is required",
        )
    if hmac.compare_digest(value.encode(), request.app[API_KEY].encode()):
        return "api-key"
    identity = verifier.verify(value)  # 101 / 109 -> 401
    if not is_admin(identity.claims):
        raise HubError(Code.PERMISSION_DENIED, "the directory API needs an admin token")
    return identity.member


def _path_id(request: web.Request, key: str = "id") -> str:
    """An id of the path, normalised like every id (``/api/members/ｍ１`` is m1)."""
    return normalize_id(request.match_info[key])


def _query_id(request: web.Request, name: str) -> str | None:
    """An id given as a query parameter (normalised); None when absent or empty."""
    return normalize_id(request.query.get(name, "")) or None


def _query_bool(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise Invalid(f"参数 {name} 应为 true 或 false", field=name, reason="bad_value")


def _kind(request: web.Request, form: Mapping[str, str] | None = None) -> str:
    kind = request.query.get("kind", "")
    if form is not None and "kind" in form:
        if kind and kind != form["kind"]:
            raise Invalid("查询参数与表单中的 kind 不一致", field="kind", reason="bad_kind")
        kind = form["kind"]
    if kind not in KINDS:
        raise Invalid("参数 kind 应为 members、units 或 groups", field="kind", reason="bad_kind")
    return kind


class _Unsupported(DirectoryError):
    status = 415


# Content types of a CSV file sent as the body itself (browsers label .csv files
# text/csv or, on Windows with Excel installed, application/vnd.ms-excel); no
# Content-Type at all reads as application/octet-stream.
_RAW_CSV_TYPES: Final = frozenset(
    {
        "text/csv",
        "text/plain",
        "text/x-csv",
        "application/csv",
        "application/x-csv",
        "application/octet-stream",
        "application/vnd.ms-excel",
    }
)
_FORM_FIELDS: Final = frozenset({"kind"})  # what the raw path takes from the query
# aiohttp reports a malformed Content-Disposition of a part with a warning (and reads
# the part as nameless): here it is a 400 (see _part_name), so the warning, which
# would print the client's bytes on stderr, is not shown.
_BAD_DISPOSITION: Final = (BadContentDispositionHeader, BadContentDispositionParam)
for _category in _BAD_DISPOSITION:
    warnings.filterwarnings("ignore", category=_category)
# What aiohttp's multipart reader raises for a malformed body: no or a bad boundary, a
# part head with control characters or undecodable bytes, a line or head too long, an
# unknown ``_charset_`` (RuntimeError), and the warnings above when they are errors.
_MALFORMED: Final = (
    ValueError,
    AssertionError,
    RuntimeError,
    HttpProcessingError,
    *_BAD_DISPOSITION,
)


async def _read_upload(request: web.Request) -> tuple[bytes, dict[str, str]]:
    """The CSV file of an import and the form fields sent with it.

    Either the body is the file (``curl --data-binary @m.csv -H 'Content-Type: text/csv'``)
    or it is ``multipart/form-data`` with the file in the field ``file`` (a browser
    form, ``curl -F file=@m.csv``) and optionally ``kind``. Both are limited to the
    app's ``client_max_size``; multipart parts are read in chunks as they arrive. The
    size limit comes before the type: a body of another type is read (up to the
    limit: 413 above it) before its 415."""
    ctype = request.content_type
    if ctype == "multipart/form-data":
        return await _read_multipart(request)
    raw = await request.read()  # HTTPRequestEntityTooLarge above client_max_size
    if ctype in _RAW_CSV_TYPES:
        return raw, {}
    raise _Unsupported(
        f"不支持的请求类型 {ctype}：请直接以 CSV 文件为请求体（Content-Type: text/csv），"
        "或用 multipart/form-data 的 file 字段上传 "
        f"(unsupported Content-Type {ctype}: send the CSV file as the body, "
        "or as the 'file' field of multipart/form-data)",
        reason="unsupported_media_type",
    )


async def _read_multipart(request: web.Request) -> tuple[bytes, dict[str, str]]:
    limit = request.client_max_size
    total = 0
    file: bytes | None = None
    fields: dict[str, str] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise Invalid("不支持嵌套的 multipart 内容", reason="bad_multipart")
            chunks = []
            while chunk := await part.read_chunk():
                total += len(chunk)
                if total > limit:
                    raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=total)
                chunks.append(chunk)
            data = b"".join(chunks)
            name = _part_name(part)
            if name == "file":
                if file is not None:
                    raise Invalid("一次只能导入一个文件", field="file", reason="bad_multipart")
                file = data
            elif name in _FORM_FIELDS:
                fields[name] = data.decode("utf-8", "replace").strip()
    except _MALFORMED:
        raise Invalid("multipart/form-data 请求体格式错误", reason="bad_multipart") from None
    if file is None:
        raise Invalid("缺少文件字段 file", field="file", reason="missing_file")
    return file, fields


def _part_name(part: BodyPartReader) -> str | None:
    """The field name of a part; a malformed Content-Disposition raises (a 400)."""
    with warnings.catch_warnings():  # synchronous: no other task runs meanwhile
        for category in _BAD_DISPOSITION:
            warnings.simplefilter("error", category)
        _, params = parse_content_disposition(part.headers.get(hdrs.CONTENT_DISPOSITION))
    return content_disposition_filename(params, "name")


class DirectoryApi:
    def __init__(self, directory: Directory, verifier: TokenVerifier, unread: Unread) -> None:
        self.directory = directory
        self.verifier = verifier
        self.unread = unread

    def _guard(self, handler: RouteHandler) -> RouteHandler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            require_admin(request, self.verifier)
            try:
                return await handler(request)
            except DirectoryError as exc:
                return json_response(exc.body(), exc.status)

        return guarded

    def add_routes(self, app: web.Application) -> None:
        g, r = self._guard, app.router
        r.add_get("/api/units", g(self.list_units))
        r.add_post("/api/units", g(self.create_unit))
        r.add_get("/api/units/{id}", g(self.get_unit))
        r.add_patch("/api/units/{id}", g(self.update_unit))
        r.add_delete("/api/units/{id}", g(self.delete_unit))
        r.add_get("/api/units/{id}/members", g(self.unit_members))
        r.add_get("/api/members", g(self.list_members))
        r.add_post("/api/members", g(self.create_member))
        r.add_get("/api/members/{id}", g(self.get_member))
        r.add_patch("/api/members/{id}", g(self.update_member))
        r.add_delete("/api/members/{id}", g(self.delete_member))
        r.add_post("/api/members/{id}/move", g(self.move_member))
        r.add_post("/api/members/{id}/flowing", g(self.set_flowing))
        r.add_delete("/api/members/{id}/flowing", g(self.clear_flowing))
        r.add_get("/api/members/{id}/unread", g(self.member_unread))
        r.add_get("/api/groups", g(self.list_groups))
        r.add_post("/api/groups", g(self.create_group))
        r.add_get("/api/groups/{id}", g(self.get_group))
        r.add_patch("/api/groups/{id}", g(self.update_group))
        r.add_delete("/api/groups/{id}", g(self.delete_group))
        r.add_put("/api/groups/{id}/members/{member}", g(self.add_group_member))
        r.add_delete("/api/groups/{id}/members/{member}", g(self.remove_group_member))
        r.add_post("/api/directory/import", g(self.import_csv))
        r.add_get("/api/directory/export", g(self.export_csv))

    # -- units ----------------------------------------------------------------------
    async def list_units(self, request: web.Request) -> web.Response:
        units = await store.list_units(
            self.directory.db,
            parent=_query_id(request, "parent"),
            root=_query_id(request, "root"),
            q=request.query.get("q") or None,
        )
        return json_response({"units": [u.to_json() for u in units]})

    async def create_unit(self, request: web.Request) -> web.Response:
        unit = await self.directory.create_unit(await read_json(request))
        return json_response(unit.to_json(), 201)

    async def get_unit(self, request: web.Request) -> web.Response:
        unit = await self.directory.unit(_path_id(request))
        chain = await store.ancestors(self.directory.db, unit.id)
        children = await store.list_units(self.directory.db, parent=unit.id)
        return json_response(
            {**unit.to_json(), "ancestors": chain[1:], "children": [c.id for c in children]}
        )

    async def update_unit(self, request: web.Request) -> web.Response:
        unit = await self.directory.update_unit(_path_id(request), await read_json(request))
        return json_response(unit.to_json())

    async def delete_unit(self, request: web.Request) -> web.Response:
        await self.directory.delete_unit(_path_id(request))
        return json_response({"deleted": _path_id(request)})

    async def unit_members(self, request: web.Request) -> web.Response:
        unit = await self.directory.unit(_path_id(request))
        members = await store.list_members(
            self.directory.db,
            unit=unit.id,
            recursive=_query_bool(request, "recursive") is not False,
            limit=query_int(request, "limit", _MAX_LIMIT, 1, _MAX_LIMIT),
            offset=query_int(request, "offset", 0, 0, 1 << 31),
        )
        return json_response({"members": [m.to_json() for m in members]})

    # -- members ------------------------------------------------------------------------
    async def list_members(self, request: web.Request) -> web.Response:
        role = request.query.get("role") or None
        if role is not None and role not in ROLES:
            raise Invalid(f"未知角色 {role}", field="role", reason="bad_role")
        members = await store.list_members(
            self.directory.db,
            unit=_query_id(request, "unit"),
            recursive=bool(_query_bool(request, "recursive")),
            q=request.query.get("q") or None,
            role=role,
            flowing=_query_bool(request, "flowing"),
            limit=query_int(request, "limit", 100, 1, _MAX_LIMIT),
            offset=query_int(request, "offset", 0, 0, 1 << 31),
        )
        return json_response({"members": [m.to_json() for m in members]})

    async def create_member(self, request: web.Request) -> web.Response:
        member = await self.directory.create_member(await read_json(request))
        return json_response(member.to_json(), 201)

    async def get_member(self, request: web.Request) -> web.Response:
        member = await self.directory.member(_path_id(request))
        groups = await store.groups_of(self.directory.db, member.id)
        return json_response({**member.to_json(), "groups": groups})

    async def update_member(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        body.pop("id", None)
        member = await self.directory.update_member(_path_id(request), body)
        return json_response(member.to_json())

    async def delete_member(self, request: web.Request) -> web.Response:
        await self.directory.delete_member(_path_id(request))
        return json_response({"deleted": _path_id(request)})

    async def move_member(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if "unit" not in body:
            raise Invalid("缺少目标单位 unit", field="unit", reason="missing_unit")
        member = await self.directory.move_member(_path_id(request), body["unit"])
        return json_response(member.to_json())

    async def set_flowing(self, request: web.Request) -> web.Response:
        body = await read_json(request) if request.can_read_body else {}
        member = await self.directory.set_flowing(_path_id(request), body)
        return json_response(member.to_json())

    async def clear_flowing(self, request: web.Request) -> web.Response:
        member = await self.directory.clear_flowing(_path_id(request))
        return json_response(member.to_json())

    async def member_unread(self, request: web.Request) -> web.Response:
        member = await self.directory.member(_path_id(request))
        return json_response({"member": member.id, "unread": await self.unread(member.id)})

    # -- groups ---------------------------------------------------------------------------
    async def list_groups(self, request: web.Request) -> web.Response:
        groups = await store.list_groups(self.directory.db, member=_query_id(request, "member"))
        return json_response({"groups": [g.to_json() for g in groups]})

    async def create_group(self, request: web.Request) -> web.Response:
        group = await self.directory.create_group(await read_json(request))
        return json_response(group.to_json(), 201)

    async def get_group(self, request: web.Request) -> web.Response:
        group = await self.directory.group(_path_id(request))
        return json_response(group.to_json())

    async def update_group(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        body.pop("id", None)
        group = await self.directory.update_group(_path_id(request), body)
        return json_response(group.to_json())

    async def delete_group(self, request: web.Request) -> web.Response:
        await self.directory.delete_group(_path_id(request))
        return json_response({"deleted": _path_id(request)})

    async def add_group_member(self, request: web.Request) -> web.Response:
        body = await read_json(request) if request.can_read_body else {}
        owner = body.get("owner", False)
        if not isinstance(owner, bool):
            raise Invalid("owner 应为 true 或 false", field="owner", reason="bad_value")
        group = await self.directory.add_to_group(
            _path_id(request), _path_id(request, "member"), owner
        )
        return json_response(group.to_json())

    async def remove_group_member(self, request: web.Request) -> web.Response:
        group = await self.directory.remove_from_group(
            _path_id(request), _path_id(request, "member")
        )
        return json_response(group.to_json())

    # -- CSV ------------------------------------------------------------------------------
    async def import_csv(self, request: web.Request) -> web.Response:
        limit, declared = request.client_max_size, request.content_length
        if declared is not None and declared > limit:  # too large: 413 before anything else
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=declared)
        if request.query.get("kind"):
            _kind(request)  # a bad kind is refused before the body is read
        raw, form = await _read_upload(request)
        kind = _kind(request, form)
        result = await run_import(self.directory, kind, raw)
        body: dict[str, Any] = result.to_json()
        if result.errors:
            error = {"code": int(Code.BAD_REQUEST), "message": result.message()}
            return json_response({"error": error, **body}, 400)
        return json_response(body)

    async def export_csv(self, request: web.Request) -> web.Response:
        kind = _kind(request)
        headers = EXPORT_HEADERS[kind]
        db = self.directory.db
        rows: list[list[str]]
        if kind == "members":
            rows = [_member_row(m) for m in await store.list_members(db, limit=1 << 31)]
        elif kind == "units":
            rows = [_unit_row(u) for u in await store.list_units(db)]
        else:
            rows = [_group_row(g) for g in await store.list_groups(db)]
        body = write_csv(list(headers.values()), rows)
        return web.Response(
            body=body,
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{kind}.csv"',
            },
        )


def _member_row(m: Member) -> list[str]:
    return [
        m.id,
        m.name,
        m.unit,
        "、".join(ROLE_LABELS[r] for r in m.roles),
        "是" if m.flowing else "否",
        m.home_unit or "",
        m.location or "",
        m.phone or "",
        m.wechat or "",
        m.wecom or "",
    ]


def _unit_row(u: Unit) -> list[str]:
    return [u.id, u.name, u.parent or "", KIND_LABELS.get(u.kind, u.kind)]


def _group_row(g: Group) -> list[str]:
    return [g.id, g.name, g.unit or "", "、".join(sorted(g.owners)), "、".join(sorted(g.members))]
