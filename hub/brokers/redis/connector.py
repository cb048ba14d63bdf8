"""Redis URLs to clients: a command client plus a factory of pub/sub connections.

Schemes: ``redis://`` and ``rediss://`` (one server), ``redis+sentinel://`` (the
master of a Sentinel service) and ``redis+cluster://`` (a Redis Cluster with
sharded pub/sub; ``redis://…?cluster=1`` is the same). The hub's own query
parameters (``prefix``, ``cluster``, ``presence_ttl``, ``probe_interval``) are
taken out before the rest reach redis-py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub.config import ConfigError
from hub.numbers import parse_int

__all__ = ["Connector", "RedisUrl", "command_retry", "parse_url"]

POOL_SIZE = 64  # command connections per process (single Redis)
# A pooled connection idle longer than this is checked with PING (retried on a
# fresh connection) before a command is sent on it: after a Redis restart the
# stale connections are replaced instead of failing the first command on each.
HEALTH_CHECK_INTERVAL = 1.0
# A command that fails with ConnectionError/TimeoutError is retried this many
# times on a fresh connection, after a short jittered backoff. Every command the
# hub sends is safe to repeat (see docs/redis.md: publishes carry a token).
COMMAND_RETRIES = 2
RETRY_ON_ERROR: tuple[type[RedisError], ...] = (RedisConnectionError, RedisTimeoutError)

_HUB_PARAMS = frozenset({"prefix", "cluster", "presence_ttl", "probe_interval"})
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(slots=True)
class RedisUrl:
    """A parsed broker URL: the mode, the addresses, and the options of each layer."""

    mode: str  # "single" | "sentinel" | "cluster"
    url: str  # for "single": the redis:// URL for redis-py (hub options removed)
    hosts: list[tuple[str, int]] = field(default_factory=list)
    service: str = ""
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = None
    hub: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)


def _int(text: str, what: str) -> int:
    """A port or database number of the URL: ASCII digits, else a ConfigError."""
    try:
        return parse_int(text)
    except ValueError:
        raise ConfigError(f"HUB_REDIS_URL: {what} cannot be {text!r}") from None


def _hosts(netloc: str, default_port: int) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for part in netloc.split(","):
        part = part.strip()
        if not part:
            continue
        host, _, port = part.rpartition(":") if part.count(":") == 1 else (part, "", "")
        out.append((host or part, _int(port, "port") if port else default_port))
    if not out:
        raise ConfigError("HUB_REDIS_URL names no host")
    return out


def parse_url(url: str) -> RedisUrl:
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    scheme = scheme.lower()
    if scheme not in {"redis", "rediss", "redis+sentinel", "redis+cluster", "rediss+cluster"}:
        raise ConfigError(f"HUB_REDIS_URL: unsupported scheme {scheme!r}")
    split = urlsplit("x://" + rest)
    query = dict(parse_qsl(split.query))
    hub = {k: v for k, v in query.items() if k in _HUB_PARAMS}
    options = {k: v for k, v in query.items() if k not in _HUB_PARAMS}
    userinfo, _, hostpart = split.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, _, pw = userinfo.partition(":")
        username, password = (unquote(user) or None), (unquote(pw) or None)
    path = split.path.strip("/")
    tls = scheme.startswith("rediss")
    cluster = scheme.endswith("+cluster") or hub.get("cluster", "").lower() in _TRUE
    if scheme == "redis+sentinel":
        if not path:
            raise ConfigError("HUB_REDIS_URL: redis+sentinel:// needs /service_name")
        service, _, db = path.partition("/")
        return RedisUrl(
            "sentinel",
            url,
            _hosts(hostpart, 26379),
            service=service,
            db=_int(options.pop("db", db or "0"), "db"),
            tls=options.pop("ssl", "").lower() in _TRUE,
            username=username,
            password=password,
            hub=hub,
            options=options,
        )
    if cluster:
        return RedisUrl(
            "cluster",
            url,
            _hosts(hostpart, 6379),
            tls=tls,
            username=username,
            password=password,
            hub=hub,
            options=options,
        )
    base = ("rediss" if tls else "redis") + "://" + split.netloc + split.path
    if options:
        base += "?" + urlencode(options)
    return RedisUrl("single", base, _hosts(hostpart, 6379), db=_int(path or "0", "db"), hub=hub)


def command_retry() -> Retry:
    """redis-py's retry for the command connections: a fresh connection, jittered backoff."""
    return Retry(EqualJitterBackoff(cap=0.5, base=0.05), COMMAND_RETRIES, tuple(RETRY_ON_ERROR))


class Connector:
    """The command client of a deployment and its pub/sub connections.

    ``link_key(name)`` says which pub/sub connection a (shard) channel belongs to:
    always ``""`` outside a cluster, the owning primary's ``host:port`` in one.
    """

    def __init__(
        self, parsed: RedisUrl, *, socket_timeout: float = 5.0, connect_timeout: float = 2.0
    ) -> None:
        self.parsed = parsed
        self.sharded = parsed.mode == "cluster"
        common: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
            "socket_keepalive": True,
            "retry": command_retry(),
            "retry_on_error": list(RETRY_ON_ERROR),
            "health_check_interval": HEALTH_CHECK_INTERVAL,
        }
        self._common = common
        self._users = 0
        self._sentinel: Sentinel | None = None
        self.client: Redis | RedisCluster
        if parsed.mode == "single":
            # A bounded pool that waits for a free connection: thousands of clients
            # subscribing at once must queue, not fail (redis-py's default pool raises
            # MaxConnectionsError past 100 connections).
            pool = BlockingConnectionPool.from_url(
                parsed.url, max_connections=POOL_SIZE, timeout=socket_timeout, **common
            )
            self.client = Redis.from_pool(pool)  # the client owns the pool and closes it
        elif parsed.mode == "sentinel":
            self._sentinel = Sentinel(  # type: ignore[no-untyped-call,unused-ignore]
                parsed.hosts,
                sentinel_kwargs={
                    "socket_timeout": connect_timeout,
                    "socket_connect_timeout": connect_timeout,
                },
                **common,
            )
            self.client = self._sentinel.master_for(
                parsed.service,
                db=parsed.db,
                ssl=parsed.tls,
                username=parsed.username,
                password=parsed.password,
            )
        else:
            self.client = RedisCluster(
                startup_nodes=[ClusterNode(h, p) for h, p in parsed.hosts],
                username=parsed.username,
                password=parsed.password,
                ssl=parsed.tls,
                socket_timeout=socket_timeout,
                socket_connect_timeout=connect_timeout,
                socket_keepalive=True,
                retry=command_retry(),
                retry_on_error=list(RETRY_ON_ERROR),
                health_check_interval=HEALTH_CHECK_INTERVAL,
            )

    async def start(self) -> None:
        if isinstance(self.client, RedisCluster):
            await self.client.initialize()

    def link_key(self, name: bytes) -> str:
        if isinstance(self.client, RedisCluster):
            node = self.client.get_node_from_key(name)  # type: ignore[arg-type]
            return "" if node is None else str(node.name)
        return ""

    def make_connection(self, key: str) -> AbstractConnection:
        """A new, unconnected connection for pub/sub (reads block without a timeout).

        No health check on it: a PING sent by redis-py while the link's reader
        waits would race that reader (the broker's self-check watches the link).
        """
        client = self.client
        conn: AbstractConnection
        if isinstance(client, RedisCluster):
            host, _, port = key.rpartition(":")
            cls = SSLConnection if self.parsed.tls else Connection
            conn = cls(
                host=host,
                port=int(port),
                username=self.parsed.username,
                password=self.parsed.password,
                **self._common,
            )
        else:
            conn = client.connection_pool.make_connection()  # type: ignore[no-untyped-call]
        conn.health_check_interval = 0
        return conn

    def retain(self) -> None:
        """One more user (the broker, the presence); closed when the last releases."""
        self._users += 1

    async def release(self) -> None:
        self._users -= 1
        if self._users <= 0:
            await self.close()

    async def close(self) -> None:
        await self.client.aclose()
        if self._sentinel is not None:
            for s in self._sentinel.sentinels:
                await s.aclose()
