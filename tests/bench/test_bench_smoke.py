"""Smoke tests of the benchmark harness: the ``--quick`` scenarios end-to-end.

Real sockets on free loopback ports, real server and load-generator subprocesses,
no mocks. The floor run must take well under 20 s; the hub run is skipped (with the
reason) only while ``hub serve`` does not exist yet. S4 / S4-1 (hubs joined through a
redis-server the harness starts) run in the hub run when ``redis-server`` is on PATH,
and are checked on their own in ``test_hub_quick_s4`` (skipped, with the reason, when
it is not).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import hub_available, redis_available

ROOT = Path(__file__).resolve().parents[2]
TRAFFIC = {"S1-1k", "S1-5k", "S2L", "S2M", "S2"}
IDLE = {"S3-10k", "S3-100k"}
CLUSTER = {"S4", "S4-1"}


def run_quick(
    target: str, out: Path, timeout: float, scenarios: str | None = None
) -> tuple[list[dict[str, Any]], float]:
    t0 = time.monotonic()
    extra = ["--scenarios", scenarios] if scenarios else []
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--target",
            target,
            "--quick",
            "--no-progress",
            "--no-plot",
            "--out",
            str(out),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    lines = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    return lines, elapsed


def check_lines(lines: list[dict[str, Any]], target: str) -> None:
    names = [ln["scenario"] for ln in lines]
    assert names[:9] == ["S1-1k", "S1-5k", "S2L", "S2M", "S2", "S3-10k", "S3-100k", "S4", "S4-1"]
    assert names[9:] and all(n.startswith("S5") for n in names[9:])
    for ln in lines:
        assert ln["target"] == target
        assert ln["quick"] is True
        assert ln["command"].startswith(f"python -m bench --target {target}")
        assert {"nproc", "cpu", "kernel", "python"} <= ln["machine"].keys()
        if ln["scenario"] in {*CLUSTER, "S5"} and ln["status"] == "skipped":
            assert ln["needs"]  # reported as missing, never faked
            if ln["scenario"] in CLUSTER and target == "hub":
                assert not redis_available()[0], ln  # skipped on the hub only without redis
            continue
        assert ln["status"] == "ok", ln
        if ln["scenario"] == "S5":  # a notice to every member, then receipts
            assert ln["audit_ok"] is True and ln["receipts_per_s"] > 0, ln
            assert len(ln["all_connected_ms"]) == 3 and min(ln["all_connected_ms"]) > 0
            continue
        assert ln["losses"] == 0, ln
        assert ln["duplicates"] == 0, ln
        assert ln["reordered"] == 0, ln
        assert ln["server_peak_mem_kib"] > 0
        if ln["scenario"] in CLUSTER:
            check_cluster(ln)
        if ln["scenario"] in TRAFFIC | CLUSTER:
            assert ln["deliveries"] > 0
            assert ln["deliveries_per_s"] > 0
            assert ln["offset_anomalies"] == 0
            assert ln["connect_failed"] == 0 and ln["subscribe_failed"] == 0
            lat = ln["latency_ms"]
            assert 0 <= lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"]
            assert ln["server_cpu_us_per_delivery"] is not None
            assert ln["generator_cpu_util"] >= 0
        elif ln["scenario"] in IDLE:
            assert ln["opened"] == ln["connections"]
            assert ln["connect_failed"] == 0
            assert ln["mem_per_conn_bytes"] is not None


def check_cluster(ln: dict[str, Any]) -> None:
    """An S4 line: every hub and redis measured, pinned as documented."""
    nodes = 2 if ln["scenario"] == "S4" else 1
    assert ln["nodes"] == nodes and ln["servers"] == nodes
    assert len(ln["server_cpu_util_each"]) == nodes
    assert ln["redis_cpu_util"] is not None and ln["redis_peak_mem_kib"] > 0
    assert len(ln["hub_log_problems"]) == nodes
    pin = ln["pinning"]
    assert len(pin["hubs"]) == nodes
    if ln["machine"]["nproc"] >= 2:
        # both hubs and redis share one core, the generator has another one
        assert all(len(h) == 1 and h == pin["redis"] for h in pin["hubs"]), pin
        assert pin["generator"] != pin["redis"], pin


def test_floor_quick_scenarios(tmp_path: Path) -> None:
    lines, _ = run_quick("floor", tmp_path, timeout=60)
    check_lines(lines, "floor")
    saved = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(s)["scenario"] for s in saved] == [ln["scenario"] for ln in lines]


def test_hub_quick_scenarios(tmp_path: Path) -> None:
    ok, why = hub_available()
    if not ok:
        pytest.skip(f"`hub serve` is not available yet: {why}")
    lines, _ = run_quick("hub", tmp_path, timeout=180)
    check_lines(lines, "hub")


def test_hub_quick_s4(tmp_path: Path) -> None:
    """S4 and S4-1 quick: two hubs (and one) through a redis-server of their own."""
    ok, why = hub_available()
    if not ok:
        pytest.skip(f"`hub serve` is not available yet: {why}")
    has_redis, why = redis_available()
    if not has_redis:
        pytest.skip(f"S4 needs redis-server: {why}")
    lines, _ = run_quick("hub", tmp_path, timeout=120, scenarios="S4")
    assert [ln["scenario"] for ln in lines] == ["S4", "S4-1"]
    for ln in lines:
        assert ln["status"] == "ok", ln
        assert ln["losses"] == 0 and ln["duplicates"] == 0, ln
        assert ln["reordered"] == 0 and ln["offset_anomalies"] == 0, ln
        assert ln["connect_failed"] == 0 and ln["subscribe_failed"] == 0, ln
        assert ln["deliveries"] > 0 and ln["server_peak_mem_kib"] > 0
        check_cluster(ln)
