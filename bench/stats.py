"""Compact latency histogram and /proc readers for the benchmark.

The histogram is log-linear (HDR-like): values below 64 µs are exact, above that each
power of two is split into 32 buckets, so any recorded value is within ~3 % of its
bucket's lower bound. Recording is a few integer operations and one list increment,
cheap enough for several hundred thousand deliveries per second.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

SUB_BITS = 5  # 32 sub-buckets per power of two
SUB = 1 << SUB_BITS
EXACT = SUB * 2  # values below this are exact (64)
NBUCKETS = EXACT + 64 * SUB


def bucket(v: int) -> int:
    """Bucket index of a non-negative integer value (µs)."""
    if v < EXACT:
        return v if v > 0 else 0
    shift = v.bit_length() - SUB_BITS - 1
    return (shift << SUB_BITS) + (v >> shift)


def bucket_low(i: int) -> int:
    """The smallest value that falls into bucket ``i``."""
    if i < EXACT:
        return i
    shift = (i >> SUB_BITS) - 1
    return (i - (shift << SUB_BITS)) << shift


def new_hist() -> list[int]:
    return [0] * NBUCKETS


def merge(hists: Iterable[list[int]]) -> list[int]:
    out = new_hist()
    for h in hists:
        for i, c in enumerate(h):
            if c:
                out[i] += c
    return out


def percentiles(hist: list[int], qs: Iterable[float], vmax: int) -> dict[str, float | None]:
    """Percentiles (in ms) of a histogram of µs values; ``vmax`` is the exact maximum."""
    total = sum(hist)
    result: dict[str, float | None] = {}
    qs = list(qs)
    if total == 0:
        for q in qs:
            result[_qname(q)] = None
        result["max"] = None
        return result
    for q in qs:
        rank = max(1, int(total * q + 0.999999))
        seen = 0
        value = 0
        for i, c in enumerate(hist):
            if c:
                seen += c
                if seen >= rank:
                    nxt = bucket_low(i + 1)
                    value = (bucket_low(i) + nxt - 1) // 2 if i >= EXACT else i
                    break
        result[_qname(q)] = round(min(value, vmax) / 1000.0, 3)
    result["max"] = round(vmax / 1000.0, 3)
    return result


def _qname(q: float) -> str:
    return "p" + f"{q * 100:g}".replace(".", "")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (read from /proc/*/task/*/children)."""
    out: list[int] = []
    todo = [pid]
    while todo and len(out) < 4096:
        p = todo.pop()
        out.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except OSError:
                continue
    return out


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` and its descendants, from /proc/PID/stat."""
    user = system = 0.0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state); utime is field 14, stime field 15.
        user += int(fields[11]) / CLK_TCK
        system += int(fields[12]) / CLK_TCK
    return user, system


def mem_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (KiB) summed over ``pid`` and its descendants."""
    out = {"VmRSS": 0, "VmHWM": 0}
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    key = line.split(":", 1)[0]
                    if key in out:
                        out[key] += int(line.split()[1])
        except OSError:
            continue
    return out
