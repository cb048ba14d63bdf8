"""The load generator: many WebSocket client connections from one process (uvloop).

Run by ``python -m bench`` once per scenario as its own process (pinned to another core
than the server), with the scenario as JSON::

    python -m bench.loadgen --spec '{"name": "S1-1k", "kind": "fanout", ...}'

It prints one JSON line (the scenario's result) on stdout and a progress bar on stderr.

Kinds of scenario:

- ``fanout`` (S1): N subscribers on one channel; P publisher connections keep at most
  ``inflight`` publishes in flight in total (closed loop) → deliveries/s.
- ``rate`` (S2*): N subscribers; publishes at a fixed rate (open loop) → latency.
- ``idle`` (S3): N connections opened and left idle → time to open, server memory per
  connection.

Several servers (S4: hubs joined through Redis): ``ports`` lists them; connection i of
each kind (subscriber i, publisher i) goes to ``ports[i % len(ports)]``. Server CPU and
peak memory are summed over ``server_pids`` (each also reported alone), ``redis_pid``'s
are reported separately.

Every message's ``data`` is ``{"t": time.time_ns() at send, "p": publisher, "seq": n,
"pad": "..."}`` (about ``data_bytes`` of JSON). Each subscriber tracks, per publisher,
the next expected seq: losses (never received), duplicates, reordering; and the channel
offsets (each must be the previous + 1). Latency is recorded in a log-linear histogram
(bench.stats) for messages sent inside the measured window, whenever they arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import sys
import time
from typing import Any

import orjson

from bench import stats
from bench.wsclient import WSConn, open_ws

QS = (0.5, 0.99, 0.999)
EXACT = stats.EXACT
SUB_BITS = stats.SUB_BITS


class Gen:
    """Shared state of one generator run (module-wide singleton ``G``)."""

    def __init__(self) -> None:
        self.channel = "bench:room"
        self.hist = stats.new_hist()
        self.lat_max = 0
        self.win_start = 1 << 62  # record latency of messages sent in [win_start, win_end)
        self.win_end = 1 << 62
        self.cache: dict[bytes, tuple[int, int, int, int]] = {}
        self.other_pushes = 0
        self.seen_other: set[bytes] = set()
        self.push_errors = 0
        # publishing
        self.running = False
        self.closed_loop = False
        self.inflight = 0
        self.max_inflight = 4
        self.pubs: list[Pub] = []
        self.rr = 0
        self.acked = 0
        self.sent = 0
        self.rejected: set[int] = set()
        self.pub_errors: dict[str, int] = {}
        self.ack_hist = stats.new_hist()
        self.ack_max = 0

    def kick(self) -> None:
        """Closed loop: top the in-flight publishes up to ``max_inflight``."""
        pubs = self.pubs
        n = len(pubs)
        for _ in range(self.max_inflight + n):
            if not self.running or self.inflight >= self.max_inflight:
                return
            pub = pubs[self.rr]
            self.rr = (self.rr + 1) % n
            if not pub.closed:
                pub.publish()


G = Gen()


class Sub(WSConn):
    __slots__ = (
        "dups",
        "last_off",
        "missing",
        "nxt",
        "off_anom",
        "ready",
        "received",
        "reorders",
    )

    def __init__(self, npub: int) -> None:
        super().__init__()
        self.nxt = [0] * npub
        self.missing: set[int] = set()
        self.dups = 0
        self.reorders = 0
        self.received = 0
        self.last_off = 0
        self.off_anom = 0
        self.ready: asyncio.Future[dict[str, Any]] | None = None

    def on_text(self, payload: bytes, now_ns: int) -> None:
        g = G
        info = g.cache.get(payload)
        if info is None:
            if payload in g.seen_other:  # e.g. the same join push to every subscriber
                g.other_pushes += 1
                return
            try:
                obj = orjson.loads(payload)
            except orjson.JSONDecodeError:
                g.push_errors += 1
                return
            if obj.get("push") != "message" or obj.get("channel") != g.channel:
                if isinstance(obj, dict) and "id" not in obj and "push" in obj:
                    if len(g.seen_other) >= 8192:
                        g.seen_other.clear()
                    g.seen_other.add(payload)
                self.on_other(obj)
                return
            d = obj["data"]
            info = (d["t"], d["p"], d["seq"], obj["offset"])
            cache = g.cache
            if len(cache) >= 8192:
                cache.clear()
            cache[payload] = info
        t, p, seq, off = info
        self.received += 1
        if g.win_start <= t < g.win_end:
            v = (now_ns - t) // 1000
            if v < EXACT:
                g.hist[v if v > 0 else 0] += 1
            else:
                shift = v.bit_length() - SUB_BITS - 1
                g.hist[(shift << SUB_BITS) + (v >> shift)] += 1
                if v > g.lat_max:
                    g.lat_max = v
        nxt = self.nxt
        e = nxt[p]
        if seq == e:
            nxt[p] = e + 1
        elif seq > e:
            base = p << 40
            self.missing.update(base | s for s in range(e, seq))
            nxt[p] = seq + 1
        else:
            key = (p << 40) | seq
            if key in self.missing:
                self.missing.discard(key)
                self.reorders += 1
            else:
                self.dups += 1
        lo = self.last_off
        if lo and off != lo + 1:
            self.off_anom += 1
        if off > lo:
            self.last_off = off

    def on_other(self, obj: Any) -> None:
        if isinstance(obj, dict) and "id" in obj:
            if self.ready is not None and not self.ready.done():
                self.ready.set_result(obj)
        elif isinstance(obj, dict) and obj.get("push") == "error":
            G.push_errors += 1
        else:
            G.other_pushes += 1

    def on_close(self) -> None:
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(ConnectionResetError(f"closed ({self.close_code})"))

    def losses(self, sent: list[int], rejected: set[int]) -> int:
        lost = 0
        for key in self.missing:
            if key not in rejected:
                lost += 1
        for p, n in enumerate(sent):
            for s in range(self.nxt[p], n):
                if ((p << 40) | s) not in rejected:
                    lost += 1
        return lost


_BG: set[asyncio.Future[Any]] = set()


def _background(coro: Any) -> None:
    fut = asyncio.ensure_future(coro)
    _BG.add(fut)
    fut.add_done_callback(_BG.discard)


class LibSub(Sub):
    """A subscriber on the ``websockets`` client instead of the lean protocol.

    Only for measuring what the ``websockets`` library costs the generator
    (``"client": "websockets"`` in the spec, ``python -m bench --client websockets``);
    the bookkeeping is the same as :class:`Sub`'s.
    """

    __slots__ = ("reader", "ws")

    def __init__(self, npub: int) -> None:
        super().__init__(npub)
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def open(self, uri: str) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(uri, subprotocols=["hub.v1.json"], compression=None, max_size=2**20)  # type: ignore[list-item]
        self.reader = asyncio.ensure_future(self.read())

    async def read(self) -> None:
        ws = self.ws
        with contextlib.suppress(Exception):
            while True:
                msg = await ws.recv(decode=False)
                self.on_text(msg, time.time_ns())
        self.closed = True
        self.on_close()

    def send_text(self, payload: bytes) -> None:
        if self.ws is not None:
            _background(self.ws.send(payload.decode()))

    def close(self, code: int = 1000) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            _background(self.ws.close())
        self.closed = True


class Pub(WSConn):
    __slots__ = ("idx", "pad", "pending", "rid", "seq")

    def __init__(self, idx: int, pad: str) -> None:
        super().__init__()
        self.idx = idx
        self.pad = pad
        self.seq = 0
        self.rid = 0
        self.pending: dict[int, tuple[int, int]] = {}

    def publish(self) -> None:
        self.rid += 1
        seq = self.seq
        self.seq += 1
        t = time.time_ns()
        frame = orjson.dumps(
            {
                "id": self.rid,
                "op": "publish",
                "channel": G.channel,
                "data": {"t": t, "p": self.idx, "seq": seq, "pad": self.pad},
            }
        )
        self.pending[self.rid] = (seq, t)
        G.inflight += 1
        G.sent += 1
        self.send_text(frame)

    def on_text(self, payload: bytes, now_ns: int) -> None:
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            G.push_errors += 1
            return
        if not isinstance(obj, dict) or "id" not in obj:
            G.other_pushes += 1
            return
        item = self.pending.pop(obj["id"], None)
        if item is None:
            return
        seq, t = item
        g = G
        g.inflight -= 1
        v = (now_ns - t) // 1000
        g.ack_hist[stats.bucket(v)] += 1
        if v > g.ack_max:
            g.ack_max = v
        if obj.get("ok"):
            g.acked += 1
        else:
            g.rejected.add((self.idx << 40) | seq)
            code = str((obj.get("error") or {}).get("code"))
            g.pub_errors[code] = g.pub_errors.get(code, 0) + 1
        if g.running and g.closed_loop:
            g.kick()


# -- helpers -----------------------------------------------------------------------------


class Progress:
    def __init__(self, name: str, enabled: bool) -> None:
        self.name = name
        self.enabled = enabled
        self.last = 0.0

    def show(self, phase: str, frac: float, extra: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.25:
            return
        self.last = now
        frac = min(max(frac, 0.0), 1.0)
        bar = "#" * int(frac * 24)
        sys.stderr.write(f"\r{self.name:<9} {phase:<8} [{bar:<24}] {frac * 100:5.1f}% {extra:<40}")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def pad_for(size: int) -> str:
    probe = orjson.dumps({"t": time.time_ns(), "p": 10, "seq": 99999, "pad": ""})
    return "x" * max(0, size - len(probe))


def raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def proc_nofile(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
    except (OSError, ValueError):
        return None
    return None


def token_for(spec: dict[str, Any], member: str, publish: bool) -> str | None:
    secret = spec.get("token_secret")
    if not secret:
        return None
    import jwt  # PyJWT, only needed against the hub

    claims = {
        "sub": member,
        "channels": [{"channel": G.channel, "publish": publish}],
        "exp": int(time.time()) + 3600,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def ws_path(spec: dict[str, Any], member: str, publish: bool) -> str:
    tok = token_for(spec, member, publish)
    return f"{spec.get('path', '/ws')}?token={tok}" if tok else spec.get("path", "/ws")


def source_hosts(spec: dict[str, Any], n: int) -> list[str | None]:
    k = int(spec.get("source_addrs", 0))
    if k <= 0 and n > 20000:
        k = math.ceil(n / 20000)
    if k <= 0:
        return [None]
    k = min(k, 250)
    return [f"127.0.0.{i + 2}" for i in range(k)]


def server_pids(spec: dict[str, Any]) -> list[int]:
    pids = [int(p) for p in spec.get("server_pids") or []]
    if not pids and spec.get("server_pid"):
        pids = [int(spec["server_pid"])]
    return pids


class Snapshot:
    def __init__(self, pids: list[int], subs: list[Sub], redis_pid: int = 0) -> None:
        self.t = time.monotonic()
        self.each = [stats.cpu_times(p) for p in pids]
        self.server = (sum(c[0] for c in self.each), sum(c[1] for c in self.each))
        self.redis = stats.cpu_times(redis_pid) if redis_pid else (0.0, 0.0)
        ot = os.times()
        self.gen = (ot.user, ot.system)
        self.received = sum(s.received for s in subs)


async def open_many(
    spec: dict[str, Any],
    make: Any,
    n: int,
    prefix: str,
    publish: bool,
    progress: Progress,
    phase: str,
) -> tuple[list[Any], int, float]:
    """Open ``n`` connections (bounded concurrency, bounded time); return (open, failed, s)."""
    host = spec["host"]
    ports = [int(p) for p in spec.get("ports") or [spec["port"]]]
    hosts = source_hosts(spec, n)
    concurrency = int(spec.get("connect_concurrency", 200))
    deadline = float(spec.get("connect_timeout_s", 120.0))
    sem = asyncio.Semaphore(concurrency)
    conns: list[Any] = []
    failed = 0
    errors: dict[str, int] = {}
    t0 = time.monotonic()

    async def one(i: int) -> None:
        nonlocal failed
        async with sem:
            conn = make(i)
            port = ports[i % len(ports)]
            try:
                if isinstance(conn, LibSub):
                    path = ws_path(spec, f"{prefix}-{i}", publish)
                    await asyncio.wait_for(conn.open(f"ws://{host}:{port}{path}"), 30.0)
                    conns.append(conn)
                    return
                await open_ws(
                    conn,
                    host,
                    port,
                    ws_path(spec, f"{prefix}-{i}", publish),
                    local_host=hosts[i % len(hosts)],
                    deadline_s=30.0,
                )
                conns.append(conn)
            except (OSError, TimeoutError) as e:
                failed += 1
                key = type(e).__name__ + ": " + str(e)[:60]
                errors[key] = errors.get(key, 0) + 1
            progress.show(phase, (len(conns) + failed) / max(n, 1), f"{len(conns)}/{n} open")

    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    try:
        async with asyncio.timeout(deadline):
            await asyncio.gather(*tasks)
    except TimeoutError:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        failed = n - len(conns)
    if errors:
        G.pub_errors.update({f"connect {k}": v for k, v in errors.items()})
    return conns, failed, time.monotonic() - t0


async def subscribe_all(subs: list[Sub], progress: Progress, window: int = 0) -> int:
    """Subscribe every subscriber to the channel; return how many failed.

    ``window`` > 0 keeps at most that many subscribes in flight (else all at once)."""
    loop = asyncio.get_running_loop()
    req = orjson.dumps({"id": 1, "op": "subscribe", "channel": G.channel})
    for s in subs:
        s.ready = loop.create_future()
    window = window if window > 0 else len(subs)
    sent = 0

    def send_upto(n: int) -> None:
        nonlocal sent
        for s in subs[sent : min(n, len(subs))]:
            s.send_text(req)
        sent = max(sent, min(n, len(subs)))

    send_upto(window)
    failed = 0
    t0 = time.monotonic()
    for i, s in enumerate(subs):
        send_upto(i + window)
        assert s.ready is not None
        remaining = max(0.1, 60.0 - (time.monotonic() - t0))
        try:
            reply = await asyncio.wait_for(s.ready, remaining)
            if not reply.get("ok"):
                failed += 1
                code = str((reply.get("error") or {}).get("code"))
                G.pub_errors["subscribe " + code] = G.pub_errors.get("subscribe " + code, 0) + 1
        except (TimeoutError, ConnectionError):
            failed += 1
        progress.show("subscr", (i + 1) / len(subs), f"{i + 1 - failed} subscribed")
    return failed


def lat_block(hist: list[int], vmax: int) -> dict[str, float | None]:
    return stats.percentiles(hist, QS, vmax)


# -- scenarios ---------------------------------------------------------------------------


async def run_traffic(spec: dict[str, Any], progress: Progress) -> dict[str, Any]:
    kind = spec["kind"]
    nsub = int(spec["subscribers"])
    npub = int(spec.get("publishers", 8))
    pids = server_pids(spec)
    redis_pid = int(spec.get("redis_pid") or 0)
    G.channel = spec.get("channel", "bench:room")
    G.max_inflight = int(spec.get("inflight", 4))
    pad = pad_for(int(spec.get("data_bytes", 200)))
    result: dict[str, Any] = {"subscribers": nsub, "publishers": npub}

    sub_cls = LibSub if spec.get("client") == "websockets" else Sub
    result["client"] = "websockets" if sub_cls is LibSub else "lean"
    subs, sub_failed, open_s = await open_many(
        spec, lambda i: sub_cls(npub), nsub, "bench-sub", False, progress, "connect"
    )
    pubs, pub_failed, _ = await open_many(
        spec, lambda i: Pub(i, pad), npub, "bench-pub", True, progress, "connect"
    )
    G.pubs = sorted(pubs, key=lambda p: p.idx)
    result["connect_failed"] = sub_failed + pub_failed
    result["open_s"] = round(open_s, 3)
    if not pubs or not subs:
        result["status"] = "error"
        result["error"] = "could not open connections"
        return result
    sub_window = int(spec.get("subscribe_window", 0))
    if sub_window:
        result["subscribe_window"] = sub_window
    result["subscribe_failed"] = await subscribe_all(subs, progress, sub_window)
    subs = [s for s in subs if not s.closed]
    # Let setup traffic (e.g. presence join pushes to every subscriber) die down before
    # measuring: wait for 0.5 s without other pushes, at most settle_max_s.
    t_settle = time.monotonic()
    settle_max = float(spec.get("settle_max_s", 120.0))
    last, quiet_since = G.other_pushes, time.monotonic()
    while time.monotonic() - t_settle < settle_max:
        await asyncio.sleep(0.1)
        if G.other_pushes != last:
            last, quiet_since = G.other_pushes, time.monotonic()
        elif time.monotonic() - quiet_since >= 0.5:
            break
        progress.show("settle", 0.0, f"{G.other_pushes:,} setup pushes")
    result["setup_pushes"] = G.other_pushes
    result["setup_settle_s"] = round(time.monotonic() - t_settle, 3)
    setup_other = G.other_pushes

    warm = float(spec.get("warmup_s", 1.0))
    dur = float(spec.get("duration_s", 5.0))
    rate = float(spec.get("rate", 0))
    send_lag_max = 0.0

    async def open_loop(total_s: float) -> None:
        nonlocal send_lag_max
        interval = 1.0 / rate
        t0 = time.monotonic()
        count = int(total_s * rate)
        for k in range(count):
            due = t0 + k * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                send_lag_max = max(send_lag_max, -delay)
            pub = G.pubs[k % len(G.pubs)]
            if not pub.closed:
                pub.publish()

    G.running = True
    sender: asyncio.Task[None] | None = None
    if kind == "fanout":
        G.closed_loop = True
        G.kick()
    else:
        sender = asyncio.ensure_future(open_loop(warm + dur))

    async def timed(phase: str, seconds: float) -> None:
        t0 = time.monotonic()
        end = t0 + seconds
        base = sum(s.received for s in subs)
        while True:
            now = time.monotonic()
            if now >= end:
                break
            await asyncio.sleep(min(0.2, end - now))
            got = sum(s.received for s in subs) - base
            el = time.monotonic() - t0
            progress.show(phase, el / seconds, f"{got / max(el, 1e-9):,.0f} deliveries/s")

    await timed("warmup", warm)
    G.win_start = time.time_ns()
    snap0 = Snapshot(pids, subs, redis_pid)
    await timed("measure", dur)
    snap1 = Snapshot(pids, subs, redis_pid)
    G.win_end = time.time_ns()
    G.running = False
    if sender is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(sender, 5.0)
    # wait for the outstanding acks, then for every subscriber to have every message
    drain_s = float(spec.get("drain_s", 10.0))
    t_end = time.monotonic() + drain_s
    # polling: the counter is updated by protocol callbacks, bounded by t_end
    while G.inflight > 0 and time.monotonic() < t_end:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    sent = [p.seq for p in G.pubs]
    expected_each = sum(sent) - len(G.rejected)
    expected = expected_each * len(subs)
    while time.monotonic() < t_end:
        got = sum(s.received for s in subs)
        progress.show("drain", got / max(expected, 1), f"{got}/{expected} delivered")
        if got >= expected:
            break
        await asyncio.sleep(0.05)
    progress.show("done", 1.0, "", force=True)

    window = snap1.t - snap0.t
    deliveries = snap1.received - snap0.received
    scpu_u = snap1.server[0] - snap0.server[0]
    scpu_s = snap1.server[1] - snap0.server[1]
    gcpu = (snap1.gen[0] - snap0.gen[0]) + (snap1.gen[1] - snap0.gen[1])
    losses = sum(s.losses(sent, G.rejected) for s in subs)
    per = 1e6 / deliveries if deliveries else None
    result.update(
        status="ok",
        window_s=round(window, 3),
        published=G.sent,
        published_ok=G.acked,
        publishes_per_s=round(G.sent / (warm + dur), 1) if kind != "fanout" else None,
        deliveries=deliveries,
        deliveries_per_s=round(deliveries / window, 1) if window > 0 else None,
        latency_ms=lat_block(G.hist, G.lat_max),
        publish_ack_ms=lat_block(G.ack_hist, G.ack_max),
        losses=losses,
        duplicates=sum(s.dups for s in subs),
        reordered=sum(s.reorders for s in subs),
        offset_anomalies=sum(s.off_anom for s in subs),
        publish_errors=dict(G.pub_errors),
        other_pushes=G.other_pushes - setup_other,
        disconnected=sum(1 for s in subs if s.closed),
        server_cpu_us_per_delivery=round((scpu_u + scpu_s) * per, 3) if per else None,
        server_cpu_user_us_per_delivery=round(scpu_u * per, 3) if per else None,
        server_cpu_sys_us_per_delivery=round(scpu_s * per, 3) if per else None,
        server_cpu_util=round((scpu_u + scpu_s) / window, 3) if window > 0 else None,
        generator_cpu_util=round(gcpu / window, 3) if window > 0 else None,
        generator_cpu_us_per_delivery=round(gcpu * per, 3) if per else None,
        # the generator, not the server, may be what limits the figure: say so
        generator_limited=bool(window > 0 and gcpu / window >= 0.9),
        send_lag_max_ms=round(send_lag_max * 1000, 1) if kind == "rate" else None,
    )
    if len(pids) > 1 or redis_pid:
        each = [(b[0] - a[0]) + (b[1] - a[1]) for a, b in zip(snap0.each, snap1.each, strict=True)]
        rcpu = (snap1.redis[0] - snap0.redis[0]) + (snap1.redis[1] - snap0.redis[1])
        result.update(
            servers=len(pids),
            server_cpu_util_each=[round(c / window, 3) for c in each] if window > 0 else None,
            server_cpu_us_per_delivery_each=[round(c * per, 3) for c in each] if per else None,
            redis_cpu_us_per_delivery=round(rcpu * per, 3) if per and redis_pid else None,
            redis_cpu_util=round(rcpu / window, 3) if window > 0 and redis_pid else None,
        )
    for c in [*subs, *pubs]:
        c.close()
    return result


async def run_idle(spec: dict[str, Any], progress: Progress) -> dict[str, Any]:
    n = int(spec["connections"])
    server_pid = int(spec.get("server_pid") or 0)
    before = stats.mem_kib(server_pid) if server_pid else {"VmRSS": 0}
    cpu0 = stats.cpu_times(server_pid) if server_pid else (0.0, 0.0)
    settle = float(spec.get("settle_s", 2.0))

    async def settled(open_now: int) -> dict[str, int]:
        t0 = time.monotonic()
        while time.monotonic() - t0 < settle:
            progress.show("settle", (time.monotonic() - t0) / settle, f"{open_now} open")
            await asyncio.sleep(0.1)
        return stats.mem_kib(server_pid) if server_pid else {"VmRSS": 0, "VmHWM": 0}

    # Two halves: the second one's growth is the marginal cost of a connection, free
    # of what the first connections make the server allocate once (caches, pools).
    half = n // 2
    conns, failed, open_s = await open_many(
        spec, lambda i: Sub(1), half, "bench-idle-a", False, progress, "connect"
    )
    mid = await settled(len(conns))
    more, failed_b, open_b = await open_many(
        spec, lambda i: Sub(1), n - half, "bench-idle-b", False, progress, "connect"
    )
    conns += more
    failed += failed_b
    open_s += open_b
    after = await settled(len(conns))
    cpu1 = stats.cpu_times(server_pid) if server_pid else (0.0, 0.0)
    still_open = sum(1 for c in conns if not c.closed)
    progress.show("done", 1.0, f"{still_open} open", force=True)
    opened = len(conns)
    delta = after["VmRSS"] - before["VmRSS"]
    result = {
        "status": "ok" if opened else "error",
        "connections": n,
        "opened": opened,
        "connect_failed": failed,
        "still_open": still_open,
        "open_s": round(open_s, 3),
        "opens_per_s": round(opened / open_s, 1) if open_s > 0 else None,
        "server_rss_before_kib": before["VmRSS"],
        "server_rss_after_kib": after["VmRSS"],
        "mem_per_conn_bytes": round(delta * 1024 / opened) if opened else None,
        "mem_per_conn_marginal_bytes": round((after["VmRSS"] - mid["VmRSS"]) * 1024 / len(more))
        if more
        else None,
        "server_cpu_us_per_open": round(
            ((cpu1[0] - cpu0[0]) + (cpu1[1] - cpu0[1])) * 1e6 / opened, 1
        )
        if opened
        else None,
        "deliveries": 0,
        "deliveries_per_s": None,
        "latency_ms": lat_block(G.hist, 0),
        "losses": 0,
        "duplicates": 0,
        "reordered": 0,
    }
    if failed:
        result["connect_errors"] = {k: v for k, v in G.pub_errors.items()}
    for c in conns:
        c.close()
    return result


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    progress = Progress(spec["name"], bool(spec.get("progress", True)))
    soft, hard = raise_nofile()
    need = int(spec.get("connections") or spec.get("subscribers", 0)) + 64
    pids = server_pids(spec)
    per_server = math.ceil((need - 64) / max(len(pids), 1)) + 64
    limits = [n for n in (proc_nofile(p) for p in pids) if n is not None]
    server_nofile = min(limits) if limits else None
    if need > soft or (server_nofile is not None and per_server > server_nofile):
        return {
            "status": "skipped",
            "needs": (
                f"RLIMIT_NOFILE >= {need} in the generator and the server "
                f"(generator soft/hard {soft}/{hard}, server {server_nofile}); "
                "raising the hard limit needs CAP_SYS_RESOURCE (e.g. ulimit -Hn / "
                "LimitNOFILE= / docker --ulimit nofile=)"
            ),
        }
    t0 = time.monotonic()
    ot0 = os.times()
    if spec["kind"] == "idle":
        result = await run_idle(spec, progress)
    else:
        result = await run_traffic(spec, progress)
    progress.done()
    ot1 = os.times()
    result["generator_cpu_s_total"] = round((ot1.user - ot0.user) + (ot1.system - ot0.system), 3)
    result["elapsed_s"] = round(time.monotonic() - t0, 3)
    if pids:
        peaks = [stats.mem_kib(p)["VmHWM"] for p in pids]
        result["server_peak_mem_kib"] = sum(peaks)
        if len(peaks) > 1:
            result["server_peak_mem_kib_each"] = peaks
    redis_pid = int(spec.get("redis_pid") or 0)
    if redis_pid:
        result["redis_peak_mem_kib"] = stats.mem_kib(redis_pid)["VmHWM"]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.loadgen")
    ap.add_argument("--spec", required=True, help="scenario as a JSON object")
    args = ap.parse_args(argv)
    spec = orjson.loads(args.spec)
    if not str(spec.get("host", "127.0.0.1")).startswith("127."):
        print("the load generator targets loopback addresses only", file=sys.stderr)
        return 2
    try:
        import uvloop

        result = uvloop.run(run(spec))
    except ImportError:  # pragma: no cover
        result = asyncio.run(run(spec))
    out = {"scenario": spec["name"], **result}
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
