"""The escalation policy a notice or alert carries: a ladder of rungs and when
a recipient no longer needs escalating.

``{"escalation": [{"after": "30s", "via": "wechat"}, {"after": "5m", "via": "sms"}],
"escalate_until": "delivered" | "acked"}`` — ``after`` counts from the send time
(``30s``, ``5m``, ``2h``, ``1d`` or a number of seconds); a rung runs only for
recipients whose receipt is still below ``escalate_until`` (default ``acked``
when an ack is required, else ``delivered``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from channels.notices.model import RANK, bad

__all__ = ["VIAS", "parse_duration", "parse_policy"]

VIAS: Final = ("wechat", "sms")
_DURATION: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?", re.ASCII)
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(value: object) -> int:
    """Milliseconds from ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"`` or seconds as a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return int(value * 1000)
    if isinstance(value, str):
        m = _DURATION.fullmatch(value.strip())
        if m:
            return int(float(m.group(1)) * _UNIT_MS[m.group(2) or "s"])
    raise bad(f"时长“{value}”无法识别（例如 30s、5m、2h）")


def parse_policy(body: Mapping[str, Any], require_ack: bool) -> dict[str, Any]:
    raw = body.get("escalation")
    if raw is None:
        return {}
    if not isinstance(raw, list) or len(raw) > 10:
        raise bad('escalation 应为升级梯度列表，例如 [{"after": "30s", "via": "wechat"}]')
    ladder = []
    last = -1
    for step in raw:
        if not isinstance(step, dict) or step.get("via") not in VIAS:
            raise bad('每一级升级应为 {"after": "5m", "via": "wechat" 或 "sms"}')
        after = parse_duration(step.get("after"))
        if after < last:
            raise bad("升级梯度应按时间先后排列")
        last = after
        ladder.append({"after_ms": after, "via": step["via"]})
    until = body.get("escalate_until", "acked" if require_ack else "delivered")
    if until not in ("delivered", "read", "acked"):
        raise bad("escalate_until 应为 delivered、read 或 acked")
    return {"ladder": ladder, "until": until, "until_rank": RANK[until]}
