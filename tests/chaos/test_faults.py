"""Faults under traffic: Redis restarted, PostgreSQL restarted, a hub SIGKILLed.

Two ``hub serve`` processes (one worker each) share a Redis and a PostgreSQL the
test started itself. ``HUB_CHAOS_SUBSCRIBERS`` (default 500) Python SDK clients
(:class:`hub.client.Client`: reconnect, recovery by offset) are spread over both
hubs on one channel; two publishers send at a steady rate through the server
API, each publish with an idempotency key, retried with the same key (on the
other hub when one is down) until acknowledged. During the run Redis is
restarted (SIGKILL, every key lost), PostgreSQL is restarted (immediate stop:
a crash) and one hub is SIGKILLed and started again. PostgreSQL goes first: the
Redis restart then loses the stream, so history must come from the archive.

Verdict:

* every acknowledged publish is delivered exactly once, in offset order, to
  every subscriber (a subscriber told the epoch changed — a ``Reset`` — reloads
  the gap through ``history``, which PostgreSQL must hold);
* the final history holds every acknowledged publish exactly once;
* no publish answered with an error is delivered unless it was then acknowledged
  under the same key;
* false failures — publishes that failed although Redis, PostgreSQL and the hub
  asked were all answering — are 0; a hub that answers during a fault answers
  503 with the JSON error body (code 108), nothing else;
* the time from each fault until publishing works again is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from hub.client import Client, HubError, Message, Reset, State, StateChange
from tests.chaos.support import Deployment, api, deployment, summary
from tests.support.hubs import HubProcess, wait_until

__all__ = ["deployment"]

CH = "chat:chaos"
GRANT = [{"channel": CH, "publish": True}]
N_SUBS = int(os.environ.get("HUB_CHAOS_SUBSCRIBERS", "500"))
PUBLISH_EVERY = 0.1  # seconds between one publisher's publishes
QUIET = 3.0  # seconds of traffic between faults


@dataclass
class Sub:
    client: Client
    got: dict[int, str] = field(default_factory=dict)  # offset -> key
    order: list[int] = field(default_factory=list)  # offsets in the order handed on
    resets: int = 0
    reloaded: int = 0
    connects: int = 0  # CONNECTED transitions: 1 + reconnects
    task: asyncio.Task[None] | None = None


@dataclass
class Attempt:
    key: str
    hub: int
    start: float
    end: float
    ok: bool
    detail: str
    status: int | None = None  # the HTTP status, when the hub answered
    code: int | None = None  # the error body's code


@dataclass
class Publisher:
    n: int
    acked: dict[str, tuple[int, str]] = field(default_factory=dict)  # key -> offset, epoch
    attempts: list[Attempt] = field(default_factory=list)
    stop: bool = False


@dataclass
class Outage:
    """A fault from its injection until the test saw the dependency answer again;
    ``hub`` is the hub it concerns (None: every hub)."""

    name: str
    start: float
    end: float
    hub: int | None = None

    def excuses(self, a: Attempt) -> bool:
        return (
            (self.hub is None or self.hub == a.hub) and a.start <= self.end and a.end >= self.start
        )


async def consume(c: Client, sub: Sub, subscription: Any) -> None:
    async for item in subscription:
        if isinstance(item, Message):
            key = item.data["k"]
            sub.got.setdefault(item.offset, key)
            sub.order.append(item.offset)
        elif isinstance(item, Reset):
            sub.resets += 1
            await reload(c, sub, item)


async def reload(c: Client, sub: Sub, reset: Reset) -> None:
    """Fill (previous, position] from history; retry while the hub cannot answer."""
    low, high = reset.previous.offset, reset.position.offset
    deadline = time.monotonic() + 60
    before = high + 1
    while before - 1 > low:
        try:
            page = await c.history(CH, before=before, limit=500)
        except (HubError, OSError, TimeoutError, Exception):
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.2)
            continue
        msgs = [m for m in page.messages if low < m.offset < before]
        if not msgs:
            return
        for m in msgs:
            sub.got.setdefault(m.offset, m.data["k"])
            sub.reloaded += 1
        before = msgs[0].offset


async def publisher(
    s: aiohttp.ClientSession, hubs: list[HubProcess], p: Publisher, home: int
) -> None:
    seq = 0
    while not p.stop:
        key = f"p{home}-{seq}"
        target = home
        while True:
            t0 = time.monotonic()
            st: int | None = None
            code: int | None = None
            try:
                st, body = await api(
                    s, hubs[target], "POST", "/api/publish",
                    {"channel": CH, "data": {"k": key}, "idem": key},
                )  # fmt: skip
                detail = f"{st} {body}"
                ok = st == 200
                if not ok:
                    code = (body.get("error") or {}).get("code")
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                ok, detail, body = False, repr(exc), None
            p.attempts.append(
                Attempt(key, target, t0, time.monotonic(), ok, detail[:300], st, code)
            )
            if ok:
                p.acked[key] = (body["offset"], body["epoch"])
                break
            target = 1 - target  # the other hub, then back
            await asyncio.sleep(0.1)
        seq += 1
        await asyncio.sleep(PUBLISH_EVERY)


async def recovered_after(p: list[Publisher], t_fault: float) -> float:
    """Seconds from the fault until the first publish sent after it was acknowledged."""

    def first_ok() -> float | None:
        oks = [a.end for q in p for a in q.attempts if a.ok and a.start >= t_fault]
        return min(oks) if oks else None

    await wait_until(lambda: first_ok() is not None, timeout=60, what="publishing again")
    t = first_ok()
    assert t is not None
    return round(t - t_fault, 2)


@pytest.mark.timeout(400)
async def test_faults_exactly_once(deployment: Deployment) -> None:
    d = deployment
    started = time.monotonic()
    secret, key = "chaos-secret-" + os.urandom(16).hex(), "chaos-key-" + os.urandom(8).hex()
    d.add_hub(secret, key)
    d.add_hub(secret, key)
    hubs = d.hubs
    subs: list[Sub] = []
    outages: list[Outage] = []
    pubs = [Publisher(0), Publisher(1)]
    try:

        async def open_sub(i: int) -> Sub:
            h = hubs[i % 2]
            holder: list[Sub] = []

            def on_state(change: StateChange) -> None:
                if change.state is State.CONNECTED and holder:
                    holder[0].connects += 1

            c = Client(
                h.ws_url, h.token(f"s{i}", channels=GRANT), backoff=(0.1, 1.0),
                request_timeout=20, on_state=on_state,
            )  # fmt: skip
            sub = Sub(c)
            holder.append(sub)
            await c.connect()
            subscription = await c.subscribe(CH)
            sub.task = asyncio.create_task(consume(c, sub, subscription))
            return sub

        for start in range(0, N_SUBS, 50):  # connect in waves
            subs += await asyncio.gather(
                *(open_sub(i) for i in range(start, min(N_SUBS, start + 50)))
            )
        t_connected = time.monotonic() - started

        async with aiohttp.ClientSession() as s:
            tasks = [asyncio.create_task(publisher(s, hubs, p, p.n)) for p in pubs]
            await asyncio.sleep(QUIET)

            t = time.monotonic()
            await asyncio.to_thread(d.pg.restart)
            await wait_until(d.pg.answers, timeout=30, what="postgres back")
            outages.append(Outage("postgresql", t, time.monotonic()))
            rec_pg = await recovered_after(pubs, t)
            await asyncio.sleep(QUIET)

            t = time.monotonic()
            d.restart_redis(signal.SIGKILL)
            await wait_until(d.redis_answers, timeout=30, what="redis back")
            outages.append(Outage("redis", t, time.monotonic()))
            rec_redis = await recovered_after(pubs, t)
            await asyncio.sleep(QUIET)

            t = time.monotonic()
            hubs[0].kill()
            await asyncio.to_thread(hubs[0].start, 60)
            outages.append(Outage("hub0", t, time.monotonic(), hub=0))
            rec_hub = await recovered_after(pubs, t)
            await asyncio.sleep(QUIET)

            for p in pubs:
                p.stop = True
            await asyncio.gather(*tasks)

            acked = {k: v for p in pubs for k, v in p.acked.items()}
            by_offset = {off: k for k, (off, _) in acked.items()}
            assert len(by_offset) == len(acked), "two acknowledged keys share an offset"

            def complete(sub: Sub) -> bool:
                return all(off in sub.got for off in by_offset)

            with contextlib.suppress(AssertionError):
                await wait_until(
                    lambda: all(complete(x) for x in subs), timeout=60, interval=0.2,
                    what="every subscriber has every acknowledged publish",
                )  # fmt: skip

            # the history (PostgreSQL behind the Redis window) holds every ack once
            hist: list[dict[str, Any]] = []
            before = None
            while True:
                q = "limit=1000" + ("" if before is None else f"&before={before}")
                st, page = await api(s, hubs[1], "GET", f"/api/channels/{CH}/history?{q}")
                assert st == 200, page
                if not page["messages"]:
                    break
                hist = page["messages"] + hist
                before = page["messages"][0]["offset"]
                if before <= 1:
                    break
        hist_keys = Counter(m["data"]["k"] for m in hist)
        missing_hist = [k for k in acked if hist_keys[k] == 0]
        dup_hist = [k for k, n in hist_keys.items() if n > 1]

        missing = 0
        duplicates = 0
        out_of_order = 0
        wrong = 0
        for x in subs:
            missing += sum(1 for off in by_offset if off not in x.got)
            wrong += sum(1 for off, k in x.got.items() if off in by_offset and by_offset[off] != k)
            keys = Counter(x.got.values())
            duplicates += sum(n - 1 for n in keys.values() if n > 1)
            out_of_order += sum(1 for a, b in zip(x.order, x.order[1:], strict=False) if b <= a)
        errors = [a for p in pubs for a in p.attempts if not a.ok]
        false_failures = [a for a in errors if not any(o.excuses(a) for o in outages)]
        # a hub that answers while a dependency is down answers 503 / 108, nothing else
        unclear = [
            a.detail for a in errors if a.status is not None and (a.status, a.code) != (503, 108)
        ]
        never_acked = {a.key for a in errors} - set(acked)
        delivered_unacked = sum(1 for x in subs for k in x.got.values() if k in never_acked)
        resets = sum(x.resets for x in subs)
        reloaded = sum(x.reloaded for x in subs)
        delivered = sum(len(x.got) for x in subs)
        reconnected = sum(1 for x in subs if x.connects > 1)
        per_outage = {o.name: sum(1 for a in errors if o.excuses(a)) for o in outages}
        summary(
            "faults",
            subscribers=len(subs),
            hubs=2,
            acknowledged=len(acked),
            publish_errors=len(errors),
            false_failures=len(false_failures),
            delivered=delivered,
            missing=missing,
            duplicates=duplicates,
            out_of_order=out_of_order,
            resets=resets,
            reconnected=reconnected,
            errors_by_fault="/".join(f"{k}:{v}" for k, v in per_outage.items()),
            reloaded_from_history=reloaded,
            history_missing=len(missing_hist),
            history_duplicates=len(dup_hist),
            recover_redis_s=rec_redis,
            recover_pg_s=rec_pg,
            recover_hub_kill_s=rec_hub,
            connect_s=round(t_connected, 1),
            total_s=round(time.monotonic() - started, 1),
        )
        assert missing_hist == [] and dup_hist == [], (missing_hist[:5], dup_hist[:5])
        assert false_failures == [], [(a.key, a.hub, a.detail) for a in false_failures[:5]]
        assert missing == 0 and wrong == 0 and duplicates == 0 and out_of_order == 0
        assert delivered_unacked == 0
        assert unclear == [], unclear[:5]
        for h in hubs:
            assert "Traceback" not in h.log(), h.log()[-3000:]
    finally:
        for x in subs:
            if x.task is not None:
                x.task.cancel()
        await asyncio.gather(*(x.client.close() for x in subs), return_exceptions=True)
