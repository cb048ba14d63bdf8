"""The escalation tables (component ``alerts``), portable SQL.

* ``alr_rungs`` — one row per rung of a notice's ladder (``member`` ``''``: every
  recipient still below the policy's state), or per member for an SMS deferred
  past their quiet hours. ``due_at`` is stored, ``done_at`` set once it ran;
  ``owner``/``lease_until`` is the lease a scheduler holds while running it.
* ``alr_prefs`` — per-member quiet hours (minutes after midnight, China time) and
  daily SMS cap; members without a row get the defaults.
* ``alr_sms_usage`` — SMS sent per member and day, for the cap.
* ``alr_reply_codes`` — the reply code of each (notice, member) that was sent an
  SMS asking for a reply; unique per member (see ``channels/alerts/replies.py``).
* ``alr_sms_replies`` — every SMS reply received: number, provider, outcome and
  the notice it acked; the wrong-code throttle counts these.
"""

from __future__ import annotations

from typing import Final

from hub.core.interfaces import Migration

__all__ = ["COMPONENT", "MIGRATIONS"]

COMPONENT: Final = "alerts"

_V1: Final = """
CREATE TABLE alr_rungs (
    notice TEXT NOT NULL,
    rung INTEGER NOT NULL,
    member TEXT NOT NULL,
    via TEXT NOT NULL,
    until_rank INTEGER NOT NULL,
    due_at BIGINT NOT NULL,
    done_at BIGINT,
    owner TEXT,
    lease_until BIGINT,
    PRIMARY KEY (notice, rung, member)
);
CREATE INDEX alr_rungs_due ON alr_rungs (done_at, due_at);
CREATE TABLE alr_prefs (
    member TEXT PRIMARY KEY,
    quiet_start INTEGER,
    quiet_end INTEGER,
    sms_daily_cap INTEGER
);
CREATE TABLE alr_sms_usage (
    member TEXT NOT NULL,
    day TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (member, day)
);
"""

_V2: Final = """
CREATE TABLE alr_reply_codes (
    notice TEXT NOT NULL,
    member TEXT NOT NULL,
    code TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (notice, member)
);
CREATE UNIQUE INDEX alr_reply_codes_code ON alr_reply_codes (member, code);
CREATE TABLE alr_sms_replies (
    id TEXT PRIMARY KEY,
    phone TEXT NOT NULL,
    provider TEXT NOT NULL,
    outcome TEXT NOT NULL,
    notice TEXT,
    member TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX alr_sms_replies_phone ON alr_sms_replies (phone, at);
"""

MIGRATIONS: Final[list[Migration]] = [_V1, _V2]
