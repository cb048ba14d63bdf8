"""Counters of the engine, kept as plain integers on the hot path and read at scrape time."""

from __future__ import annotations

from collections import Counter

__all__ = ["LATENCY_BUCKETS", "Stats"]

# publish latency buckets (seconds), for the /metrics histogram
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Stats:
    __slots__ = (
        "connections_total",
        "deliveries",
        "errors",
        "latency_buckets",
        "latency_count",
        "latency_sum",
        "messages_in",
        "slow_consumers",
    )

    def __init__(self) -> None:
        self.connections_total = 0
        self.messages_in = 0  # accepted publishes
        self.deliveries = 0  # message pushes queued to clients
        self.slow_consumers = 0
        self.errors: Counter[int] = Counter()
        self.latency_buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0

    def error(self, code: int) -> None:
        self.errors[code] += 1

    def observe_publish(self, seconds: float) -> None:
        self.latency_sum += seconds
        self.latency_count += 1
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_buckets[i] += 1
                return
        self.latency_buckets[-1] += 1
