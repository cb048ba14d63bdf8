"""A bounded soak: steady chat, notices and reconnect churn against one ``hub serve``
(Redis broker, PostgreSQL store), sampling the process's RSS, open descriptors
(``/proc/PID/fd``) and asyncio task count (``hub_tasks`` in ``/metrics``).

``HUB_SOAK_SECONDS`` sets the length (default 75; e.g. 3600 for an hour).
Verdict: flat — the last third's means within a tolerance of the middle third's
(the first third is warm-up) — and the descriptors back to the baseline once
every client has left: no client socket, files/pipes/other sockets at their
baseline, and the Redis and PostgreSQL pools (which keep the connections a busy
moment opened) within their bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.brokers.redis.connector import POOL_SIZE
from hub.client import Client, Message
from tests.chaos.support import Deployment, api, deployment, summary
from tests.support.hubs import HubProcess, wait_until
from tests.support.ws import open_ws

__all__ = ["deployment"]

SOAK = float(os.environ.get("HUB_SOAK_SECONDS", "75"))
CH = "chat:soak"
GRANT = [{"channel": CH, "publish": True}]
STEADY = 40  # subscribers for the whole run
CHURN = 10  # clients that connect, subscribe, read and leave, every second
MEMBERS = 20  # notice recipients


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_kinds(pid: int, ports: dict[int, str]) -> dict[str, int]:
    """The process's descriptors by kind: TCP sockets by the named local or remote
    port (the hub's own, Redis, PostgreSQL), other sockets, pipes, files."""
    tcp: dict[str, tuple[int, int]] = {}  # inode -> local port, remote port
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
                f = line.split()
                tcp[f[9]] = (int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16))
    out: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = target.split(":", 1)[0] if ":" in target else "file"
        if target.startswith("socket:["):
            local, remote = tcp.get(target[8:-1], (0, 0))
            kind = ports.get(local) or ports.get(remote) or "socket"
            if kind == ports.get(local) and remote == 0:
                kind += "-listen"
        out[kind] = out.get(kind, 0) + 1
    return out


async def hub_tasks(s: aiohttp.ClientSession, h: HubProcess) -> int:
    async with s.get(h.http_url + "/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith("hub_tasks "):
            return int(float(line.split()[1]))
    raise AssertionError("no hub_tasks in /metrics")


def flat(values: list[float], rel: float, abs_: float) -> tuple[bool, float, float]:
    third = len(values) // 3
    middle = statistics.mean(values[third : 2 * third])
    last = statistics.mean(values[2 * third :])
    return last <= middle * (1 + rel) + abs_, middle, last


@pytest.mark.timeout(int(SOAK) + 300)
async def test_soak_is_flat(deployment: Deployment) -> None:
    d = deployment
    secret, key = "soak-secret-" + os.urandom(16).hex(), "soak-key-" + os.urandom(8).hex()
    h = d.add_hub(secret, key)
    assert h.proc is not None
    pid = h.proc.pid
    counts = {"published": 0, "publish_errors": 0, "notices": 0, "notice_errors": 0}
    counts |= {"churn_sessions": 0, "churn_errors": 0, "steady_received": 0}
    stop = asyncio.Event()
    stop_churn = asyncio.Event()  # stopped first: churn clients wait for a message
    errors: list[str] = []
    samples: list[tuple[float, int, int, int]] = []  # t, rss kB, fds, tasks

    async with aiohttp.ClientSession() as s:
        rows = ["编号,姓名,所属支部"] + [f"n{i:03d},成员{i},b1" for i in range(MEMBERS)]
        for unit in (
            {"id": "d", "name": "示范区", "kind": "区"},
            {"id": "b1", "name": "第一支部", "parent": "d", "kind": "支部"},
        ):
            assert (await api(s, h, "POST", "/api/units", unit))[0] == 201
        async with s.post(
            h.http_url + "/api/directory/import?kind=members",
            data=("\n".join(rows) + "\n").encode(),
            headers={"Authorization": f"Bearer {key}"},
        ) as r:
            assert r.status == 200, await r.text()
        fds_before = fds(pid)
        ports = {h.port: "clients", d.redis.port: "redis", d.pg.port: "postgresql"}
        kinds_before = fd_kinds(pid, ports)

        steady = [Client(h.ws_url, h.token(f"s{i}", channels=GRANT)) for i in range(STEADY)]
        await asyncio.gather(*(c.connect() for c in steady))
        subs = [await c.subscribe(CH) for c in steady]

        async def read(sub: Any) -> None:
            async for item in sub:
                if isinstance(item, Message):
                    counts["steady_received"] += 1

        readers = [asyncio.create_task(read(x)) for x in subs]

        async def publisher() -> None:
            n = 0
            while not stop.is_set():
                st, _ = await api(s, h, "POST", "/api/publish", {"channel": CH, "data": n})
                counts["published" if st == 200 else "publish_errors"] += 1
                n += 1
                await asyncio.sleep(0.05)

        async def noticer() -> None:
            n = 0
            while not stop.is_set():
                body = {"title": f"通知{n}", "body": "请阅。", "audience": {"units": ["d"]}}
                st, _ = await api(s, h, "POST", "/api/notices", body)
                counts["notices" if st == 201 else "notice_errors"] += 1
                n += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2)

        async def churn_one(i: int) -> None:
            try:
                c = await open_ws(h.ws_url, h.token(f"c{i % 50}", channels=GRANT))
                await c.ok("subscribe", channel=CH)
                await c.push("message", timeout=10, channel=CH)
                await c.close()
                counts["churn_sessions"] += 1
            except Exception:
                counts["churn_errors"] += 1

        async def churner() -> None:
            i = 0
            while not stop_churn.is_set():
                await asyncio.gather(*(churn_one(i + k) for k in range(CHURN)))
                i += CHURN
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_churn.wait(), 1)

        async def sampler() -> None:
            while not stop.is_set():
                tasks = await hub_tasks(s, h)
                samples.append((time.monotonic(), rss_kb(pid), fds(pid), tasks))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

        churning = asyncio.create_task(churner())
        work = [asyncio.create_task(f()) for f in (publisher, noticer, sampler)]
        await asyncio.sleep(SOAK)  # the soak's length, not a wait for a result
        stop_churn.set()
        await churning
        stop.set()
        await asyncio.gather(*work)
        for t in readers:
            t.cancel()
        await asyncio.gather(*(c.close() for c in steady), return_exceptions=True)

        def fds_back() -> bool:
            """No client socket left; everything but the backend pools at its baseline;
            the pools within their bounds (Redis: 64 + the pub/sub link; PostgreSQL: 10)."""
            now = fd_kinds(pid, ports)
            bounds = {"redis": POOL_SIZE + 2, "postgresql": 12, "clients": 0}
            return all(n <= bounds.get(k, kinds_before.get(k, 0) + 2) for k, n in now.items())

        try:
            await wait_until(fds_back, timeout=30, interval=0.2, what="fds back to baseline")
        except AssertionError:
            raise AssertionError(f"fds {fd_kinds(pid, ports)} (baseline {kinds_before})") from None
        tasks_after = await hub_tasks(s, h)
    rss_ok, rss_mid, rss_last = flat([x[1] for x in samples], 0.10, 4096)
    fd_ok, fd_mid, fd_last = flat([x[2] for x in samples], 0.0, 10)
    task_ok, task_mid, task_last = flat([x[3] for x in samples], 0.10, 20)
    summary(
        "soak",
        seconds=int(SOAK),
        samples=len(samples),
        **counts,
        rss_mb_middle=round(rss_mid / 1024, 1),
        rss_mb_last=round(rss_last / 1024, 1),
        fds_baseline=fds_before,
        fds_middle=round(fd_mid, 1),
        fds_last=round(fd_last, 1),
        fds_after=fds(pid),
        fds_after_by_kind="/".join(f"{k}:{n}" for k, n in sorted(fd_kinds(pid, ports).items())),
        tasks_middle=round(task_mid, 1),
        tasks_last=round(task_last, 1),
        tasks_after=tasks_after,
    )
    assert counts["publish_errors"] == 0 and counts["notice_errors"] == 0
    assert counts["churn_errors"] == 0, errors[:5]
    assert rss_ok and fd_ok and task_ok, samples
    assert "Traceback" not in h.log(), h.log()[-3000:]
