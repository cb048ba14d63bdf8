"""The scenarios of issue 7, full size and ``--quick`` (smoke-test) size.

A scenario is a dict handed to the load generator (bench.loadgen) as its spec, plus the
orchestrator's keys ``group`` (S1, S2L, …) and, for scenarios the target cannot run yet,
``needs`` (what is missing; reported as such, never faked).
"""

from __future__ import annotations

from typing import Any

Scenario = dict[str, Any]

# What S4 and S5 need from the hub before they can run. When the hub grows the feature,
# replace the entry in NEEDS by a runnable spec (see S4_SPEC / S5_SPEC below for the
# intended shape) and teach bench.__main__.start_target to start what it needs.
NEEDS: dict[str, dict[str, str]] = {
    "S4": {
        # runnable on the hub (see _cluster); skipped without a redis-server binary
        "hub": "a `redis-server` binary on PATH (the harness starts its own)",
        "floor": "not applicable: the floor is one process without a broker",
    },
    "S5": {
        "hub": "runnable (bench.notices: hub serve with the domain)",
        "floor": "not applicable: the floor has no notices",
    },
}

# Intended shapes, kept here so the runnable versions slot in without touching the CLI.
S4_SPEC: Scenario = {"kind": "rate", "subscribers": 2000, "rate": 50, "nodes": 2, "redis": True}
S5_SPEC: Scenario = {"kind": "notice", "recipients": 10000}


def _fanout(name: str, subs: int, quick: bool) -> Scenario:
    if quick:
        return {
            "name": name,
            "group": "S1",
            "kind": "fanout",
            "subscribers": subs,
            "publishers": 4,
            "inflight": 4,
            "warmup_s": 0.2,
            "duration_s": 0.6,
            "drain_s": 3.0,
        }
    return {
        "name": name,
        "group": "S1",
        "kind": "fanout",
        "subscribers": subs,
        "publishers": 8,
        "inflight": 4,
        "warmup_s": 2.0,
        "duration_s": 10.0,
        "drain_s": 15.0,
    }


def _rate(name: str, rate: float, quick: bool) -> Scenario:
    if quick:
        return {
            "name": name,
            "group": name,
            "kind": "rate",
            "subscribers": 100,
            "publishers": 2,
            "rate": rate,
            "warmup_s": 0.2,
            "duration_s": 0.6,
            "drain_s": 3.0,
        }
    return {
        "name": name,
        "group": name,
        "kind": "rate",
        "subscribers": 2000,
        "publishers": 2,
        "rate": rate,
        "warmup_s": 2.0,
        "duration_s": 15.0,
        "drain_s": 15.0,
    }


def _idle(name: str, n: int, quick: bool) -> Scenario:
    return {
        "name": name,
        "group": "S3",
        "kind": "idle",
        "connections": n,
        "settle_s": 0.3 if quick else 2.0,
        "connect_concurrency": 200,
        "connect_timeout_s": 30.0 if quick else 600.0,
        # exercise the several-source-address path even in the quick run
        "source_addrs": 4 if n > 20000 or (quick and name.endswith("100k")) else 0,
    }


def _cluster(name: str, nodes: int, quick: bool) -> Scenario:
    """S4: ``nodes`` hub processes joined through one redis-server (hub only).

    The subscribers are split over the hubs (subscriber i on hub i % nodes) and so are
    the publishers (publisher k on hub k % nodes; the open loop takes them in turn, so
    consecutive publishes alternate between the hubs). S4-1 is the same load on one hub
    with the Redis broker: the cost of Redis without the cost of a second process.
    """
    scen: Scenario = {
        **_rate(name, 30.0 if quick else float(S4_SPEC["rate"]), quick),
        "group": "S4",
        "nodes": nodes,
        "redis": True,
        "targets": ("hub",),
        # at most 50 subscribes in flight: the hub's redis-py pool (100 connections by
        # default in redis-py 8) answers 108 to a storm of 2,000 concurrent subscribes
        "subscribe_window": 50,
    }
    if quick:
        scen["subscribers"] = 80
    return scen


def all_scenarios(quick: bool) -> list[Scenario]:
    return [
        _fanout("S1-1k", 100 if quick else 1000, quick),
        _fanout("S1-5k", 200 if quick else 5000, quick),
        _rate("S2L", 20.0 if quick else 5.0, quick),
        _rate("S2M", 40.0 if quick else 25.0, quick),
        _rate("S2", 60.0 if quick else 50.0, quick),
        _idle("S3-10k", 300 if quick else 10000, quick),
        _idle("S3-100k", 1000 if quick else 100000, quick),
        _cluster("S4", 2, quick),
        _cluster("S4-1", 1, quick),
        {
            "name": "S5",
            "group": "S5",
            "kind": "notice",
            "targets": ("hub",),
            "recipients": 1000 if quick else 10000,
            "connected": 200 if quick else 2000,
            "notices": 3,
        },
    ]


def select(names: str | None, quick: bool) -> list[Scenario]:
    """Scenarios whose name or group is in the comma-separated ``names`` (all if None)."""
    scenarios = all_scenarios(quick)
    if not names:
        return scenarios
    wanted = {n.strip() for n in names.split(",") if n.strip()}
    chosen = [s for s in scenarios if s["name"] in wanted or s["group"] in wanted]
    known = {s["name"] for s in scenarios} | {s["group"] for s in scenarios}
    unknown = wanted - known
    if unknown:
        raise SystemExit(
            f"unknown scenario(s): {', '.join(sorted(unknown))}; known: "
            + ", ".join(s["name"] for s in scenarios)
        )
    return chosen
