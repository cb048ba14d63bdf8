"""The escalation policy a notice or alert carries: a ladder of rungs and when
a recipient no longer needs escalating.

``{"escalation": [{"after": "30s", "via": "wechat"}, {"after": "5m", "via": "sms"}],
"escalate_until": "delivered" | "acked"}`` — ``after`` counts from the send time
(``30s``, ``5m``, ``2h``, ``1d`` or a number of seconds, at most 366 days; the rungs
are put in time order); a rung runs only for
recipients whose receipt is still below ``escalate_until`` (default ``acked``
when an ack is required, else ``delivered``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from channels.notices.model import bad
from channels.notices.states import ReceiptState

__all__ = ["VIAS", "parse_duration", "parse_policy"]

VIAS: Final = ("wechat", "sms")
_DURATION: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?", re.ASCII)
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


MAX_DURATION_MS: Final = 366 * 86_400_000  # a rung later than a year never runs


def parse_duration(value: object) -> int:
    """Milliseconds from ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"`` or seconds as a number
    (at most :data:`MAX_DURATION_MS`: a huge number was an infinite float, then a 500)."""
    ms: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        ms = value * 1000
    elif isinstance(value, str):
        m = _DURATION.fullmatch(value.strip())
        if m:
            ms = float(m.group(1)) * _UNIT_MS[m.group(2) or "s"]
    if ms is None:
        raise bad(f"时长“{value}”无法识别（例如 30s、5m、2h）")
    if not ms <= MAX_DURATION_MS:  # also inf and nan
        raise bad(f"时长“{value}”过长（最多 366 天）")
    return int(ms)


def parse_policy(body: Mapping[str, Any], require_ack: bool) -> dict[str, Any]:
    raw = body.get("escalation")
    if raw is None:
        return {}
    if not isinstance(raw, list) or len(raw) > 10:
        raise bad('escalation 应为升级梯度列表，例如 [{"after": "30s", "via": "wechat"}]')
    ladder = []
    for step in raw:
        if not isinstance(step, dict) or step.get("via") not in VIAS:
            raise bad('每一级升级应为 {"after": "5m", "via": "wechat" 或 "sms"}')
        ladder.append({"after_ms": parse_duration(step.get("after")), "via": step["via"]})
    # Rungs run in time order whatever order they were written in (stable for equal times).
    ladder.sort(key=lambda rung: int(rung["after_ms"]))
    until = body.get("escalate_until", "acked" if require_ack else "delivered")
    if until not in ("delivered", "read", "acked"):
        raise bad("escalate_until 应为 delivered、read 或 acked")
    return {"ladder": ladder, "until": until, "until_rank": ReceiptState(until).rank}
