"""The few HTTP routes the page needs besides the engine's and the directory's.

* ``GET /api/web/config`` (no credentials): ``{demo, login_url, receipt_states}`` —
  whether the demo sign-in is on, where to send a person who has no token
  (``HUB_WEB_LOGIN_URL``, the organization's own login), and the receipt states in
  rank order with their words (:func:`channels.notices.states.page_config`: the page
  keeps no copy of its own).
* ``GET /api/web/me`` (``Authorization: Bearer <connection token>``): who the token
  is, with names: the member's unit, roles, whether it may send notices, and its
  groups with their members' names (what a chat list and mentions need).
* ``GET /api/web/names?ids=a,b`` (a connection token): members' display names.
* ``GET /api/web/org`` (an admin connection token, the one the notices API takes):
  the org tree, the groups and the role labels, to pick a notice's audience.
* Demo only (``DomainExtension(demo=True)``): ``GET /api/demo/members`` and
  ``POST /api/demo/token`` ``{"member"}`` → ``{"token"}``: a one-click sign-in as
  any member of the demo organization. Never enabled in production.
"""

from __future__ import annotations

import os
from typing import Any, Final

from aiohttp import web

from channels.authz import is_admin
from channels.directory import store
from channels.directory.model import KIND_LABELS, ROLE_LABELS, Member
from channels.directory.service import Directory
from channels.notices.states import page_config
from hub.auth import Identity, TokenVerifier
from hub.protocol.errors import Code, HubError
from hub.server.http import json_response, read_json

__all__ = ["DEMO_TOKEN_TTL", "WebApi"]

DEMO_TOKEN_TTL: Final = 12 * 3600.0
_MAX_NAMES: Final = 200


def _bearer(request: web.Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise HubError(Code.UNAUTHORIZED, "需要 'Authorization: Bearer <连接令牌>'")
    return value.strip()


def _member_json(m: Member) -> dict[str, Any]:
    """What the page shows of a member: never the phone or WeChat ids."""
    return {"id": m.id, "name": m.name, "unit": m.unit, "roles": list(m.roles)}


class WebApi:
    def __init__(self, directory: Directory, verifier: TokenVerifier, *, demo: bool) -> None:
        self.directory = directory
        self.verifier = verifier
        self.demo = demo
        self.login_url = os.environ.get("HUB_WEB_LOGIN_URL") or None

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/web/config", self.config)
        r.add_get("/api/web/me", self.me)
        r.add_get("/api/web/org", self.org)
        r.add_get("/api/web/names", self.names)
        if self.demo:
            r.add_get("/api/demo/members", self.demo_members)
            r.add_post("/api/demo/token", self.demo_token)

    def identity(self, request: web.Request) -> Identity:
        return self.verifier.verify(_bearer(request))  # 101 / 109 -> 401

    @staticmethod
    def may_send(identity: Identity) -> bool:
        """The notices API takes admin tokens (``"role": "admin"``): only they may send."""
        return is_admin(identity.claims)

    async def config(self, request: web.Request) -> web.Response:
        return json_response(
            {"demo": self.demo, "login_url": self.login_url, "receipt_states": page_config()}
        )

    async def me(self, request: web.Request) -> web.Response:
        identity = self.identity(request)
        db = self.directory.db
        m = await store.get_member(db, identity.member)
        groups = await store.list_groups(db, member=identity.member) if m is not None else []
        ids = sorted({x for g in groups for x in g.members})
        names = {x.id: x.name for x in await store.list_members(db, ids=ids, limit=len(ids) + 1)}
        unit = await store.get_unit(db, m.unit) if m is not None else None
        return json_response(
            {
                "member": identity.member,
                "name": m.name if m is not None else (identity.name or identity.member),
                "unit": None if unit is None else unit.to_json(),
                "roles": list(m.roles) if m is not None else [],
                "admin": is_admin(identity.claims) or (m is not None and "admin" in m.roles),
                "sender": self.may_send(identity),
                "groups": [
                    {
                        "id": g.id,
                        "channel": f"group:{g.id}",
                        "name": g.name,
                        "owners": sorted(g.owners),
                        "members": [{"id": x, "name": names.get(x, x)} for x in sorted(g.members)],
                    }
                    for g in groups
                ],
            }
        )

    async def names(self, request: web.Request) -> web.Response:
        """``?ids=a,b``: display names of members (a sender, a group member)."""
        self.identity(request)
        ids = [x for x in request.query.get("ids", "").split(",") if x][:_MAX_NAMES]
        found = await store.list_members(self.directory.db, ids=ids, limit=_MAX_NAMES)
        return json_response({"names": {m.id: m.name for m in found}})

    async def org(self, request: web.Request) -> web.Response:
        identity = self.identity(request)
        db = self.directory.db
        if not self.may_send(identity):
            raise HubError(Code.PERMISSION_DENIED, "只有持管理员令牌的成员可以发布通知")
        units = await store.list_units(db)
        groups = await store.list_groups(db)
        return json_response(
            {
                "units": [u.to_json() for u in units],
                "groups": [
                    {"id": g.id, "name": g.name, "unit": g.unit, "size": len(g.members)}
                    for g in groups
                ],
                "roles": ROLE_LABELS,
                "kinds": KIND_LABELS,
            }
        )

    async def demo_members(self, request: web.Request) -> web.Response:
        db = self.directory.db
        units = {u.id: u.name for u in await store.list_units(db)}
        members = await store.list_members(db, limit=200)
        return json_response(
            {
                "members": [
                    dict(
                        _member_json(m),
                        unit_name=units.get(m.unit, m.unit),
                        role_names=[ROLE_LABELS.get(r, r) for r in m.roles],
                        flowing=m.flowing,
                    )
                    for m in members
                ]
            }
        )

    async def demo_token(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        member_id = body.get("member")
        if not isinstance(member_id, str):
            raise HubError(Code.BAD_REQUEST, "'member' is required")
        m = await store.get_member(self.directory.db, member_id)
        if m is None:
            raise HubError(Code.NOT_FOUND, f"演示组织中没有成员“{member_id}”")
        extra: dict[str, Any] = {"roles": list(m.roles)}
        if "admin" in m.roles:
            extra["role"] = "admin"
        token = self.verifier.mint(m.id, name=m.name, ttl=DEMO_TOKEN_TTL, extra=extra)
        return json_response({"token": token, "member": m.id, "name": m.name})
