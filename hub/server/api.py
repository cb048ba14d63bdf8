"""The engine's HTTP API (PROTOCOL.md §6) and the operations endpoints."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from hub.auth import MAX_TOKEN_TTL
from hub.core.node import Node
from hub.core.stats import LATENCY_BUCKETS
from hub.numbers import parse_int
from hub.protocol.errors import Code, HubError
from hub.protocol.names import validate_channel
from hub.protocol.requests import MAX_HISTORY_LIMIT, MAX_IDEM_LEN, Since
from hub.server.http import json_response, read_json, require_api_key
from hub.server.openapi import OpenApi

__all__ = ["NODE", "OPENAPI", "READY_CHECKS", "TOKEN_ROLES", "add_engine_routes"]

NODE: Final = web.AppKey("node", Node)
OPENAPI: Final = web.AppKey("openapi", OpenApi)
READY_CHECKS: Final = web.AppKey("ready_checks", list)  # list of async () -> (name, ok, detail)
# The values of the ``role`` claim that ``POST /api/tokens`` mints. The engine gives the
# claim no meaning; the domain reads ``"role": "admin"`` as an organization-wide
# administrator (channels.authz.is_admin): the notices and directory APIs, the dashboard.
TOKEN_ROLES: Final = frozenset({"admin"})


def _channel(request: web.Request) -> str:
    return validate_channel(request.match_info["channel"])


def _int_param(request: web.Request, name: str, minimum: int) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = parse_int(raw)  # ASCII digits: int() would take "１２" and " 1_0"
    except ValueError:
        raise HubError(Code.BAD_REQUEST, f"'{name}' must be an integer") from None
    if value < minimum:
        raise HubError(Code.BAD_REQUEST, f"'{name}' must be >= {minimum}")
    return value


async def publish(request: web.Request) -> web.Response:
    require_api_key(request)
    body = await read_json(request)
    channel = validate_channel(body.get("channel"))
    if "data" not in body:
        raise HubError(Code.BAD_REQUEST, "'data' is required")
    idem = body.get("idem")
    if idem is not None and (not isinstance(idem, str) or not idem or len(idem) > MAX_IDEM_LEN):
        raise HubError(
            Code.BAD_REQUEST, f"'idem' must be a string of 1 to {MAX_IDEM_LEN} characters"
        )
    res = await request.app[NODE].publish(None, channel, body["data"], idem)
    return json_response({"offset": res.offset, "epoch": res.epoch})


async def history(request: web.Request) -> web.Response:
    require_api_key(request)
    channel = _channel(request)
    since_offset = _int_param(request, "since", 0)
    epoch = request.query.get("epoch")
    before = _int_param(request, "before", 1)
    limit = _int_param(request, "limit", 1)
    since: Since | None = None
    if since_offset is not None:
        if not epoch:
            raise HubError(Code.BAD_REQUEST, "'since' needs 'epoch'")
        since = Since(since_offset, epoch)
    if since is not None and before is not None:
        raise HubError(Code.BAD_REQUEST, "'since' and 'before' cannot be combined")
    limit = 100 if limit is None else min(limit, MAX_HISTORY_LIMIT)
    page = await request.app[NODE].history(None, channel, since, before, limit)
    return json_response(
        {
            "messages": [p.push() for p in page.publications],
            "offset": page.position.offset,
            "epoch": page.position.epoch,
        }
    )


async def presence(request: web.Request) -> web.Response:
    require_api_key(request)
    members = await request.app[NODE].presence_of(None, _channel(request))
    return json_response({"members": {m: {"clients": n} for m, n in members.items()}})


async def tokens(request: web.Request) -> web.Response:
    require_api_key(request)
    body = await read_json(request)
    sub = body.get("sub")
    if not isinstance(sub, str):
        raise HubError(Code.BAD_REQUEST, "'sub' must be a string")
    channels = body.get("channels")
    if channels is not None and not isinstance(channels, list):
        raise HubError(Code.BAD_REQUEST, "'channels' must be a list")
    ttl = body.get("ttl")
    if ttl is not None and (type(ttl) not in (int, float) or not 0 < ttl <= MAX_TOKEN_TTL):
        raise HubError(
            Code.BAD_REQUEST, f"'ttl' must be positive seconds, at most {MAX_TOKEN_TTL:g}"
        )
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise HubError(Code.BAD_REQUEST, "'name' must be a string")
    role = body.get("role")
    if role is not None and (not isinstance(role, str) or role not in TOKEN_ROLES):
        allowed = ", ".join(f'"{r}"' for r in sorted(TOKEN_ROLES))
        raise HubError(Code.BAD_REQUEST, f"'role' must be one of {allowed} (or left out)")
    extra = None if role is None else {"role": role}
    try:
        token = request.app[NODE].verifier.mint(
            sub, channels=channels, ttl=ttl, name=name, extra=extra
        )
    except HubError as exc:
        raise HubError(Code.BAD_REQUEST, exc.message) from None
    return json_response({"token": token})


async def openapi(request: web.Request) -> web.Response:
    require_api_key(request)
    return json_response(request.app[OPENAPI].document())


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, Any] = {}
    ok = True
    for check in request.app[READY_CHECKS]:
        name, good, detail = await check()
        checks[name] = {"ok": good, "detail": detail}
        ok = ok and good
    if request.app[NODE].closing:
        ok = False
        checks["node"] = {"ok": False, "detail": "shutting down"}
    return json_response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
    )


def _task_count() -> int:
    """Tasks of the running loop; 0 when collected outside one (e.g. when the
    registry describes its collectors at registration, as ``hub openapi`` does)."""
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:
        return 0


class _NodeCollector(Collector):
    def __init__(self, node: Node) -> None:
        self.node = node

    def collect(self) -> Any:
        n = self.node
        s = n.stats
        yield GaugeMetricFamily(
            "hub_connections", "open WebSocket connections", value=n.connections
        )
        yield GaugeMetricFamily("hub_clients", "authenticated clients", value=len(n.clients))
        yield GaugeMetricFamily(
            "hub_tasks", "asyncio tasks alive in this process", value=_task_count()
        )
        yield GaugeMetricFamily(
            "hub_subscriptions",
            "local subscriptions",
            value=sum(len(c) for c in n.channels.values()),
        )
        yield GaugeMetricFamily(
            "hub_channels", "channels with local subscribers", value=len(n.channels)
        )
        yield CounterMetricFamily(
            "hub_connects", "clients authenticated since start", value=s.connections_total
        )
        yield CounterMetricFamily("hub_messages_in", "publishes accepted", value=s.messages_in)
        yield CounterMetricFamily(
            "hub_messages_out", "message pushes delivered", value=s.deliveries
        )
        yield CounterMetricFamily(
            "hub_slow_consumers", "clients disconnected as slow (4010)", value=s.slow_consumers
        )
        errors = CounterMetricFamily("hub_errors", "errors answered, by code", labels=["code"])
        for code, count in sorted(s.errors.items()):
            errors.add_metric([str(code)], count)
        yield errors
        broker_metrics = getattr(n.broker, "metrics", None)
        if broker_metrics is not None:
            for name, value in broker_metrics().items():
                yield GaugeMetricFamily(f"hub_broker_{name}", f"broker: {name}", value=value)
        cumulative = 0
        buckets = []
        for bound, count in zip(LATENCY_BUCKETS, s.latency_buckets, strict=False):
            cumulative += count
            buckets.append((repr(bound), cumulative))
        buckets.append(("+Inf", s.latency_count))
        yield HistogramMetricFamily(
            "hub_publish_latency_seconds",
            "time from a publish's arrival to its acknowledgement",
            buckets=buckets,
            sum_value=s.latency_sum,
        )


async def metrics(request: web.Request) -> web.Response:
    registry: CollectorRegistry = request.app[_REGISTRY]
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": "text/plain; version=0.0.4"}
    )


_REGISTRY: Final = web.AppKey("registry", CollectorRegistry)


def add_engine_routes(app: web.Application, node: Node) -> None:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_NodeCollector(node))
    app[_REGISTRY] = registry
    r = app.router
    r.add_post("/api/publish", publish)
    r.add_get("/api/channels/{channel}/history", history)
    r.add_get("/api/channels/{channel}/presence", presence)
    r.add_post("/api/tokens", tokens)
    r.add_get("/api/openapi.json", openapi)
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/metrics", metrics)
    r.add_get("/ws", _ws_not_first)


async def _ws_not_first(request: web.Request) -> web.Response:
    raise HubError(
        Code.BAD_REQUEST,
        "a WebSocket upgrade must be the first request of its connection (no keep-alive reuse)",
    )
