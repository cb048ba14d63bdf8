"""Latency-percentile plot (PNG) of a benchmark run. matplotlib is optional."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PCTS = ("p50", "p99", "p999", "max")


def plot_latency(results: list[dict[str, Any]], path: Path) -> str:
    """Write a grouped bar chart of p50/p99/p99.9/max per scenario; return a message."""
    rows = [
        r
        for r in results
        if r.get("status") == "ok" and (r.get("latency_ms") or {}).get("p50") is not None
    ]
    if not rows:
        return "plot: no scenario with latency figures; no PNG written"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return (
            "plot: matplotlib is not installed, so no PNG was written "
            "(pip install matplotlib into the venv to get bench/results/latency.png)"
        )
    labels = [f"{r['scenario']}\n{r.get('target', '?')}" for r in rows]
    width = 0.2
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(rows) + 2), 4.5))
    for k, pct in enumerate(PCTS):
        xs = [i + (k - 1.5) * width for i in range(len(rows))]
        ys = [max(float(r["latency_ms"].get(pct) or 0.0), 0.001) for r in rows]
        ax.bar(xs, ys, width, label=pct)
    ax.set_xticks(list(range(len(rows))))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("publish → deliver latency (ms, log)")
    quick = " (--quick)" if any(r.get("quick") for r in rows) else ""
    ax.set_title(f"Latency percentiles per scenario{quick}")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot: wrote {path}"
