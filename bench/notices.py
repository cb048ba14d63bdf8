"""S5: a notice to 10,000 recipients, and the receipt ingest rate.

    python -m bench.notices [--recipients 10000] [--connected 2000] [--notices 3] [--quick]

Starts ``hub serve`` (with the domain) on the embedded default (in-process broker,
SQLite) in a temporary directory, loads ``--recipients`` members through the
directory's CSV import, opens ``--connected`` member connections (upgrade token),
then measures:

* ``store_ms``: the ``POST /api/notices`` round trip — the notice and one receipt per
  recipient stored, then published to every connected recipient;
* ``all_connected_ms``: from the POST until the last connected recipient has the
  ``member:<id>`` message;
* ``receipts_per_s``: every connected recipient sends ``delivered``, ``read`` and
  ``acked`` for each of ``--notices`` notices, pipelined; the rate at which the
  hub answers them (each answer is sent after the change is committed).

Prints one JSON line; docs/performance.md records the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import websockets

from channels.directory.csvio import write_csv

__all__ = ["main", "run"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _members_csv(n: int) -> bytes:
    headers = [
        "编号",
        "姓名",
        "所属支部/单位",
        "角色",
        "流动党员",
        "流出支部",
        "现居地",
        "手机号",
        "微信号",
    ]
    rows = (
        [f"u{i:05d}", f"成员{i}", f"b{i % 100:02d}", "党员", "否", "", "", "", ""] for i in range(n)
    )
    return write_csv(headers, rows)


def _units_csv() -> bytes:
    rows = [["root", "示范区", "", "区"]]
    rows += [[f"b{i:02d}", f"第{i}支部", "root", "支部"] for i in range(100)]
    return write_csv(["编号", "名称", "上级单位", "类型"], rows)


async def run(recipients: int, connected: int, notices: int) -> dict[str, Any]:
    port = _free_port()
    secret, key = secrets.token_hex(16), secrets.token_hex(12)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "HUB_PORT": str(port),
            "HUB_HOST": "127.0.0.1",
            "HUB_DATA_DIR": tmp,
            "HUB_TOKEN_SECRET": secret,
            "HUB_API_KEY": key,
        }
        proc = _start_hub(env, Path(tmp) / "hub.log")
        try:
            return await _measure(port, secret, key, tmp, recipients, connected, notices)
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 30)


def _start_hub(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "channels.cli", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def _measure(
    port: int, secret: str, key: str, tmp: str, recipients: int, connected: int, notices: int
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        deadline = time.monotonic() + 30
        while True:
            try:
                async with s.get(f"{base}/readyz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError((Path(tmp) / "hub.log").read_text())
            await asyncio.sleep(0.1)
        for kind, body in (("units", _units_csv()), ("members", _members_csv(recipients))):
            async with s.post(f"{base}/api/directory/import?kind={kind}", data=body) as r:
                assert r.status == 200, await r.text()
        url = f"ws://127.0.0.1:{port}/ws"
        conns = []
        for start in range(0, connected, 200):
            batch = [
                websockets.connect(
                    f"{url}?token={jwt.encode({'sub': f'u{i:05d}'}, secret, algorithm='HS256')}",
                    subprotocols=["hub.v1.json"],  # type: ignore[list-item]
                    max_size=None,
                    open_timeout=60,
                )
                for i in range(start, min(connected, start + 200))
            ]
            conns += await asyncio.gather(*batch)
        await asyncio.sleep(1.0)  # let every upgrade authenticate
        result: dict[str, Any] = {
            "scenario": "S5",
            "recipients": recipients,
            "connected": connected,
        }
        ids: list[str] = []
        for k in range(notices):
            waiters = [asyncio.create_task(_wait_notice(ws)) for ws in conns]
            t0 = time.perf_counter()
            body = {"title": f"压测通知{k}", "body": "正文" * 100, "audience": {"units": ["root"]}}
            async with s.post(f"{base}/api/notices", json=body) as r:
                reply = await r.json()
                assert r.status == 201, reply
            t_store = time.perf_counter() - t0
            await asyncio.gather(*waiters)
            t_all = time.perf_counter() - t0
            ids.append(reply["notice"]["id"])
            result.setdefault("store_ms", []).append(round(t_store * 1000, 1))
            result.setdefault("all_connected_ms", []).append(round(t_all * 1000, 1))
            assert reply["notice"]["recipients"] == recipients
        t0 = time.perf_counter()
        total = sum(await asyncio.gather(*(_receipts(ws, ids) for ws in conns)))
        dt = time.perf_counter() - t0
        result["receipts"] = total
        result["receipts_s"] = round(dt, 3)
        result["receipts_per_s"] = round(total / dt)
        async with s.get(f"{base}/api/notices/{ids[-1]}") as r:
            counts = (await r.json())["counts"]
            assert counts["acked"] == connected, counts
        async with s.get(f"{base}/api/notices/{ids[-1]}/audit") as r:
            result["audit_ok"] = (await r.json())["ok"]
        for ws in conns:
            await ws.close()
        return result


async def _wait_notice(ws: Any) -> None:
    while True:
        msg = json.loads(await ws.recv())
        if msg.get("push") == "message" and msg["data"].get("kind") == "notice":
            return


async def _receipts(ws: Any, ids: list[str]) -> int:
    n = 0
    for nid in ids:
        for state in ("delivered", "read", "acked"):
            n += 1
            await ws.send(json.dumps({"id": n, "op": "receipt", "notice": nid, "state": state}))
    got = 0
    while got < n:
        msg = json.loads(await ws.recv())
        if "id" in msg and "push" not in msg:
            assert msg["ok"], msg
            got += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.notices", description=__doc__.split("\n")[0])
    ap.add_argument("--recipients", type=int, default=10000)
    ap.add_argument("--connected", type=int, default=2000)
    ap.add_argument("--notices", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1,000 recipients, 200 connected")
    args = ap.parse_args(argv)
    if args.quick:
        args.recipients, args.connected = 1000, 200
    print(
        json.dumps(
            asyncio.run(run(args.recipients, args.connected, args.notices)), ensure_ascii=False
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
