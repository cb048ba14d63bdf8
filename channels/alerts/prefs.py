"""Quiet hours and the daily SMS cap, per member (China time, UTC+8).

During a member's quiet hours no SMS goes out unless the notice is urgent; the
SMS waits until the quiet hours end. At most ``sms_daily_cap`` SMS a day reach
one member (urgent ones too: the cap protects the member and the budget).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from channels.notices.model import bad
from hub.core.interfaces import Database

__all__ = ["CN", "Prefs", "Quiet", "parse_hhmm", "quiet_until", "take_sms"]

CN: Final = timedelta(hours=8)
_HHMM: Final = re.compile(r"([0-9]{2}):([0-9]{2})", re.ASCII)


@dataclass(frozen=True, slots=True)
class Quiet:
    start: int  # minutes after midnight
    end: int


@dataclass(frozen=True, slots=True)
class Prefs:
    quiet: Quiet | None
    sms_daily_cap: int

    def to_json(self) -> dict[str, Any]:
        q = self.quiet
        return {
            "quiet_hours": None if q is None else {"start": _hhmm(q.start), "end": _hhmm(q.end)},
            "sms_daily_cap": self.sms_daily_cap,
        }


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_hhmm(value: object) -> int:
    """``HH:MM`` in ASCII digits (``int()`` alone would take " 1:00", "+1:00", "٢٢:٠٠")."""
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is not None:
        h, m = int(match[1]), int(match[2])
        if h < 24 and m < 60:
            return h * 60 + m
    raise bad(f"时间“{value}”应为 HH:MM，例如 22:00")


def quiet_until(q: Quiet | None, now_ms: int) -> int | None:
    """When ``now_ms`` falls in the quiet hours, the time (ms) they end; else None."""
    if q is None or q.start == q.end:
        return None
    local = datetime.fromtimestamp(now_ms / 1000, UTC) + CN
    minute = local.hour * 60 + local.minute
    inside = (
        (q.start <= minute < q.end) if q.start < q.end else (minute >= q.start or minute < q.end)
    )
    if not inside:
        return None
    end = local.replace(hour=q.end // 60, minute=q.end % 60, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return int((end - CN).timestamp() * 1000)


def day_of(now_ms: int) -> str:
    return (datetime.fromtimestamp(now_ms / 1000, UTC) + CN).strftime("%Y-%m-%d")


async def take_sms(db: Database, member: str, cap: int, now_ms: int) -> bool:
    """Count one SMS for ``member`` today unless the cap is reached (atomic)."""
    rows = await db.fetch(
        "INSERT INTO alr_sms_usage (member, day, n) VALUES (?, ?, 1) "
        "ON CONFLICT (member, day) DO UPDATE SET n = alr_sms_usage.n + 1 "
        "WHERE alr_sms_usage.n < ? RETURNING n",
        member,
        day_of(now_ms),
        cap,
    )
    return bool(rows) and cap > 0
