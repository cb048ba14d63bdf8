"""The Redis broker: several hub processes behave as one hub.

Set ``HUB_REDIS_URL`` and every ``hub serve`` process shares channels, gapless
offsets, the recovery window, idempotency keys and presence through Redis
(≥ 7 for sharded pub/sub; ≥ 5 otherwise). How it works: ``docs/redis.md``.

URLs:

* ``redis://[user:password@]host:port/db`` and ``rediss://…`` (TLS): one server.
* ``redis+sentinel://[user:password@]host:port,host:port/service_name?db=0``:
  the master of Sentinel service ``service_name``, found through the listed
  sentinels (redis-py's :class:`redis.asyncio.sentinel.Sentinel`); after a
  failover the command client and the pub/sub connection reconnect to the new
  master (``?ssl=true`` for TLS to the master).
* ``redis+cluster://host:port,host:port`` (or ``redis://host:port?cluster=1``):
  a Redis Cluster; fan-out uses sharded pub/sub (SSUBSCRIBE/SPUBLISH), with one
  pub/sub connection per primary that owns a subscribed channel.

The hub's own query parameters: ``prefix`` (key prefix, default ``hub``),
``presence_ttl`` and ``probe_interval`` (seconds; also the settings / environment
variables ``HUB_REDIS_PRESENCE_TTL`` and ``HUB_REDIS_PROBE_INTERVAL``).
"""

from __future__ import annotations

from hub.brokers.redis.broker import RedisBroker
from hub.brokers.redis.connector import Connector, RedisUrl, parse_url
from hub.brokers.redis.presence import RedisPresence
from hub.config import ConfigError, Settings
from hub.core.interfaces import Broker, Presence, Store
from hub.numbers import parse_float

__all__ = ["Connector", "RedisBroker", "RedisPresence", "RedisUrl", "from_settings", "parse_url"]


def _seconds(settings: Settings, parsed: RedisUrl, name: str) -> float:
    """A URL query parameter wins over the setting ``redis_<name>``."""
    raw: object = parsed.hub.get(name)
    if raw is None:
        value: float = getattr(settings, "redis_" + name)
        return value
    try:
        value = parse_float(str(raw))  # ASCII digits only
    except (TypeError, ValueError):
        raise ConfigError(f"HUB_REDIS_URL: {name} cannot be {raw!r}") from None
    if value < 0:
        raise ConfigError(f"HUB_REDIS_URL: {name} must not be negative")
    return value


def from_settings(settings: Settings, store: Store) -> tuple[Broker, Presence]:
    parsed = parse_url(settings.redis_url)
    connector = Connector(parsed)
    prefix = parsed.hub.get("prefix", "hub")
    broker = RedisBroker(
        connector,
        store,
        history_size=settings.history_size,
        history_ttl=settings.history_ttl,
        flush_interval=settings.flush_interval,
        probe_interval=_seconds(settings, parsed, "probe_interval"),
        prefix=prefix,
    )
    ttl = _seconds(settings, parsed, "presence_ttl") or 30.0
    presence = RedisPresence(connector, ttl=ttl, prefix=prefix)
    return broker, presence
