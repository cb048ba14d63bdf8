"""Smoke tests of the benchmark harness: the ``--quick`` scenarios end-to-end.

Real sockets on free loopback ports, real server and load-generator subprocesses,
no mocks. The floor run must take well under 20 s; the hub run is skipped (with the
reason) only while ``hub serve`` does not exist yet.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import hub_available

ROOT = Path(__file__).resolve().parents[2]
TRAFFIC = {"S1-1k", "S1-5k", "S2L", "S2M", "S2"}
IDLE = {"S3-10k", "S3-100k"}


def run_quick(target: str, out: Path, timeout: float) -> tuple[list[dict[str, Any]], float]:
    t0 = time.monotonic()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--target",
            target,
            "--quick",
            "--no-progress",
            "--out",
            str(out),
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
    assert names == ["S1-1k", "S1-5k", "S2L", "S2M", "S2", "S3-10k", "S3-100k", "S4", "S5"]
    for ln in lines:
        assert ln["target"] == target
        assert ln["quick"] is True
        assert ln["command"].startswith(f"python -m bench --target {target}")
        assert {"nproc", "cpu", "kernel", "python"} <= ln["machine"].keys()
        if ln["scenario"] in {"S4", "S5"} and ln["status"] == "skipped":
            assert ln["needs"]  # reported as missing, never faked
            continue
        assert ln["status"] == "ok", ln
        assert ln["losses"] == 0, ln
        assert ln["duplicates"] == 0, ln
        assert ln["reordered"] == 0, ln
        assert ln["server_peak_mem_kib"] > 0
        if ln["scenario"] in TRAFFIC:
            assert ln["deliveries"] > 0
            assert ln["deliveries_per_s"] > 0
            assert ln["offset_anomalies"] == 0
            assert ln["connect_failed"] == 0 and ln["subscribe_failed"] == 0
            lat = ln["latency_ms"]
            assert 0 <= lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"]
            assert ln["server_cpu_us_per_delivery"] is not None
            assert ln["generator_cpu_util"] >= 0
        else:
            assert ln["opened"] == ln["connections"]
            assert ln["connect_failed"] == 0
            assert ln["mem_per_conn_bytes"] is not None


def test_floor_quick_scenarios(tmp_path: Path) -> None:
    lines, elapsed = run_quick("floor", tmp_path, timeout=60)
    check_lines(lines, "floor")
    assert elapsed < 20, f"quick floor run took {elapsed:.1f} s"
    saved = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(s)["scenario"] for s in saved] == [ln["scenario"] for ln in lines]


def test_hub_quick_scenarios(tmp_path: Path) -> None:
    ok, why = hub_available()
    if not ok:
        pytest.skip(f"`hub serve` is not available yet: {why}")
    lines, _ = run_quick("hub", tmp_path, timeout=120)
    check_lines(lines, "hub")
