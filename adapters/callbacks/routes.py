"""aiohttp routes that receive provider callbacks, hand records to a sink, and answer
each provider exactly what it expects.

==========================================  ======================================
path (under ``prefix``)                     provider answer on success
==========================================  ======================================
``POST /aliyun-sms/report``   SmsReport     ``{"code": 0, "msg": "接收成功"}``
``POST /aliyun-sms/uplink``   SmsUp         ``{"code": 0, "msg": "接收成功"}``
``POST /tencent-sms/status``  status        ``{"result": 0, "errmsg": "OK"}``
``POST /tencent-sms/reply``   reply         ``{"result": 0, "errmsg": "OK"}``
``GET  /wechat/events``       URL check     the ``echostr`` verbatim
``POST /wechat/events``       event push    ``success``
==========================================  ======================================

Only the routes of the providers asked for are mounted (the hub: the configured
ones). With ``allow`` (source networks) a request from elsewhere is refused 403
before its body is read; the source is the TCP peer, or — only when the peer is
one of ``trusted_proxies`` — the right-most ``X-Forwarded-For`` address that is not
itself a trusted proxy.

A malformed body is answered 400, a failing sink 500 (the provider pushes
again later), a WeChat request with a bad signature 403.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence
from typing import Any

from aiohttp import web

from ..core.callbacks import Handler, Sink, log
from ..masking import Secret
from ..providers import DESCRIPTORS

__all__ = ["add_callback_routes", "callback_routes", "source_address"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip(text: str | None) -> IPAddress | None:
    try:
        address = ipaddress.ip_address((text or "").strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: IPAddress, networks: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def source_address(
    request: web.Request, trusted_proxies: Sequence[Network] = ()
) -> IPAddress | None:
    """The caller's address: the TCP peer, unless the peer is a trusted proxy; then
    the right-most ``X-Forwarded-For`` entry that is not a trusted proxy."""
    peer = _ip(request.remote)
    if peer is None or not _within(peer, trusted_proxies):
        return peer
    hops = [h for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            return None  # a garbled header from our own proxy: trust nothing
        if not _within(address, trusted_proxies):
            return address
    return peer


def _guarded(
    handler: Handler, label: str, allow: Sequence[Network], trusted: Sequence[Network]
) -> Handler:
    if not allow:
        return handler

    async def guarded(request: web.Request) -> web.StreamResponse:
        source = source_address(request, trusted)
        if source is None or not _within(source, allow):
            log.warning("%s callback from %s refused: not in HUB_CALLBACK_ALLOW", label, source)
            raise web.HTTPForbidden(text="callbacks are not accepted from this address")
        return await handler(request)

    return guarded


def callback_routes(
    sink: Sink,
    *,
    prefix: str | Secret = "/callbacks",
    providers: Collection[str] | None = None,
    wechat_token: str | Secret | None = None,
    allow: Sequence[Network] = (),
    trusted_proxies: Sequence[Network] = (),
) -> list[web.RouteDef]:
    """Routes for the callbacks of ``providers`` (default: every provider with
    callbacks) under ``prefix``; ``sink(record)`` is awaited for each
    ``DeliveryReport`` / ``InboundMessage``. The WeChat routes
    exist only when ``wechat_token`` (the account's server-configuration Token) is
    given. ``allow``/``trusted_proxies``: see the module docstring."""
    wanted = (
        {d.name for d in DESCRIPTORS if d.callback_routes is not None}
        if providers is None
        else set(providers)
    )
    base = (prefix.reveal() if isinstance(prefix, Secret) else prefix).rstrip("/")
    token = wechat_token.reveal() if isinstance(wechat_token, Secret) else wechat_token
    secrets = {"wechat": token}

    def route(method: str, path: str, handler: Handler, label: str) -> web.RouteDef:
        guarded = _guarded(handler, label, allow, trusted_proxies)
        if method == "GET":
            return web.get(f"{base}{path}", guarded, allow_head=False)
        return web.post(f"{base}{path}", guarded)

    routes = []
    for provider in DESCRIPTORS:
        if provider.callback_routes is None or provider.name not in wanted:
            continue
        for item in provider.callback_routes(sink, secrets.get(provider.name)):
            routes.append(route(item.method, item.path, item.handler, item.label))
    return routes


def add_callback_routes(router: web.UrlDispatcher, sink: Sink, **options: Any) -> None:
    """Add ``callback_routes(sink, **options)`` to an application's router."""
    router.add_routes(callback_routes(sink, **options))
