"""The server-side Lua scripts and the key layout of one channel.

Every key of a channel carries the channel in a ``{…}`` hash tag, so in a Redis
Cluster they share one hash slot (and a script may touch them all)::

    <prefix>:{<channel>}:m      hash: top (the offset counter), epoch
    <prefix>:{<channel>}:s      stream: entry ID <offset>-0, field p = payload
    <prefix>:{<channel>}:i:<k>  string: offset of idempotency key k (TTL: the window)
    <prefix>:{<channel>}:r:<t>  string: offset of the publish with retry token t (short TTL)
    <prefix>:{<channel>}:p      pub/sub (shard) channel carrying the payloads
    <prefix>:{<channel>}:pc     presence hash: client id -> member
    <prefix>:{<channel>}:pm     presence hash: member -> number of clients
    <prefix>:{<channel>}:pz     presence sorted set: client id -> expiry (ms)

A payload is the MessagePack array ``[offset, epoch, ts, from, data]``: the
publisher encodes ``ts, from, data`` once; the script prepends the array header,
offset and epoch (``cmsgpack``), so the bytes are never decoded in between.
"""

from __future__ import annotations

from typing import Final

__all__ = ["INIT", "PRESENCE_ADD", "PRESENCE_GET", "PRESENCE_REFRESH", "PRESENCE_REMOVE"]
__all__ += ["PUBLISH", "RANGE", "Keys"]


class Keys:
    """The names of one channel's keys (bytes, built once per call site)."""

    __slots__ = ("idem_prefix", "meta", "pc", "pm", "pubsub", "pz", "retry_prefix", "stream")

    def __init__(self, prefix: str, channel: str) -> None:
        base = f"{prefix}:{{{channel}}}:"
        self.meta = base + "m"
        self.stream = base + "s"
        self.idem_prefix = base + "i:"
        self.retry_prefix = base + "r:"
        self.pubsub = (base + "p").encode()
        self.pc = base + "pc"
        self.pm = base + "pm"
        self.pz = base + "pz"


# KEYS: meta, stream, idem key (the client's key, or this publish's own token key)
# ARGV: size, ttl_ms, (unused), tail, pubsub channel, PUBLISH|SPUBLISH, token, key ttl_ms
# -> {offset, epoch, 0} published; {offset, epoch, 1, payload} a duplicate of an
# earlier publish with that key (its payload, to archive it again: the earlier
# publish's archive write may have failed); {offset, epoch, 2} already published by this very call
# (same token: an attempt whose reply was lost, retried); {-1, ''} the channel
# has no meta yet. The key holds "<offset>:<token>" (older hubs wrote "<offset>").
PUBLISH: Final = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return {-1, ''} end
local size = tonumber(ARGV[1])
local seen = redis.call('GET', KEYS[3])
if seen then
  local off, token = string.match(seen, '^(%d+):?(.*)$')
  off = tonumber(off)
  local top = tonumber(redis.call('HGET', KEYS[1], 'top'))
  local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
  if off and first[1] and off > top - size
      and tonumber(string.match(first[1][1], '^%d+')) <= off then
    if token == ARGV[7] then return {off, epoch, 2} end
    local e = redis.call('XRANGE', KEYS[2], off .. '-0', off .. '-0')
    if e[1] then return {off, epoch, 1, e[1][2][2]} end
    return {off, epoch, 1}
  end
end
local top = redis.call('HINCRBY', KEYS[1], 'top', 1)
local payload = '\\149' .. cmsgpack.pack(top, epoch) .. ARGV[4]
redis.call('XADD', KEYS[2], 'MAXLEN', '~', size, string.format('%d-0', top), 'p', payload)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], top .. ':' .. ARGV[7], 'PX', ARGV[8])
redis.call(ARGV[6], ARGV[5], payload)
return {top, epoch, 0}
"""

# KEYS: meta, stream   ARGV: floor (first top), new epoch
# A channel without meta (new, or its data was lost) starts a new epoch; the
# stream of an older epoch is dropped.
INIT: Final = """
if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[2]) == 1 then
  redis.call('HSET', KEYS[1], 'top', ARGV[1])
  redis.call('DEL', KEYS[2])
end
return redis.call('HGET', KEYS[1], 'epoch')
"""

# KEYS: meta, stream   ARGV: low ID, high ID, count, reverse ("1"/"0")
# -> {epoch, top, payload...} (stream order; reversed when asked), or {-1}
# The position and the entries are read in one atomic step.
RANGE: Final = """
local m = redis.call('HMGET', KEYS[1], 'epoch', 'top')
if not m[1] then return {-1} end
local out = {m[1], tonumber(m[2])}
if tonumber(ARGV[3]) > 0 then
  local entries
  if ARGV[4] == '1' then
    entries = redis.call('XREVRANGE', KEYS[2], ARGV[2], ARGV[1], 'COUNT', ARGV[3])
  else
    entries = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
  end
  for _, e in ipairs(entries) do out[#out + 1] = e[2][2] end
end
return out
"""

# Presence. KEYS: pc, pm, pz. Entries whose expiry passed (their process stopped
# refreshing them) are purged before every operation.
_PURGE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
for _, c in ipairs(dead) do
  local m = redis.call('HGET', KEYS[1], c)
  if m then
    redis.call('HDEL', KEYS[1], c)
    if redis.call('HINCRBY', KEYS[2], m, -1) <= 0 then redis.call('HDEL', KEYS[2], m) end
  end
  redis.call('ZREM', KEYS[3], c)
end
local function touch(ttl)
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
local function put(c, m, ttl)
  local n = 0
  if redis.call('HSETNX', KEYS[1], c, m) == 1 then n = redis.call('HINCRBY', KEYS[2], m, 1) end
  redis.call('ZADD', KEYS[3], now + ttl, c)
  return n
end
"""

# ARGV: client, member, ttl_ms -> 1 when the member's first client in the channel
PRESENCE_ADD: Final = (
    _PURGE
    + """
local n = put(ARGV[1], ARGV[2], tonumber(ARGV[3]))
touch(ARGV[3])
if n == 1 then return 1 end
return 0
"""
)

# ARGV: client -> 1 when it was the member's last client in the channel
PRESENCE_REMOVE: Final = (
    _PURGE
    + """
local m = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if not m then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HINCRBY', KEYS[2], m, -1) <= 0 then
  redis.call('HDEL', KEYS[2], m)
  return 1
end
return 0
"""
)

# -> flat {member, count, member, count, ...}
PRESENCE_GET: Final = (
    _PURGE
    + """
return redis.call('HGETALL', KEYS[2])
"""
)

# ARGV: ttl_ms, client1, member1, client2, member2, ... (re-adds lost entries)
PRESENCE_REFRESH: Final = (
    _PURGE
    + """
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do put(ARGV[i], ARGV[i + 1], ttl) end
touch(ARGV[1])
return 1
"""
)
