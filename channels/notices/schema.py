"""The tables of notices and their receipts (component ``notices``), portable SQL.

* ``ntc_notices`` — one row per notice or alert (``kind``).
* ``ntc_receipts`` — the current receipt of each recipient: a projection of the
  ledger, kept for fast counts and lists (the audit checks it against the ledger);
  with the recipient's unit and (flowing members) home unit as they were at send time.
* ``ntc_events`` — the ledger: append-only, one hash chain per notice.
* ``ntc_heads`` — the last sequence number and hash of each notice's chain (the
  row that serializes appends across processes).
* ``ntc_attempts`` — every outside delivery attempt (WeChat, SMS), matched to
  provider reports by provider message id or by its own id (the reference).
* ``ntc_refusals`` — classified documents that were refused, for administrators.

Never edit a released step: add one.
"""

from __future__ import annotations

from typing import Final

from hub.core.interfaces import Migration

__all__ = ["COMPONENT", "MIGRATIONS"]

COMPONENT: Final = "notices"

_V1: Final = """
CREATE TABLE ntc_notices (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    attachments TEXT NOT NULL,
    audience TEXT NOT NULL,
    require_ack INTEGER NOT NULL,
    deadline TEXT,
    classification TEXT NOT NULL,
    urgency TEXT NOT NULL,
    policy TEXT NOT NULL,
    idem TEXT,
    recipients INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    recalled_at BIGINT,
    recalled_by TEXT
);
CREATE UNIQUE INDEX ntc_notices_idem ON ntc_notices (sender, idem);
CREATE INDEX ntc_notices_sender ON ntc_notices (sender, created_at);
CREATE TABLE ntc_receipts (
    notice TEXT NOT NULL,
    member TEXT NOT NULL,
    unit TEXT NOT NULL,
    rank INTEGER NOT NULL,
    delivered_at BIGINT,
    read_at BIGINT,
    acked_at BIGINT,
    channel TEXT,
    PRIMARY KEY (notice, member)
);
CREATE INDEX ntc_receipts_member ON ntc_receipts (member, rank);
CREATE TABLE ntc_events (
    notice TEXT NOT NULL,
    seq BIGINT NOT NULL,
    member TEXT,
    kind TEXT NOT NULL,
    state TEXT,
    channel TEXT,
    detail TEXT NOT NULL,
    ts BIGINT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (notice, seq)
);
CREATE TABLE ntc_heads (
    notice TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE ntc_attempts (
    id TEXT PRIMARY KEY,
    notice TEXT NOT NULL,
    member TEXT NOT NULL,
    rung INTEGER NOT NULL,
    via TEXT NOT NULL,
    provider TEXT,
    provider_message_id TEXT,
    address TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ntc_attempts_pmid ON ntc_attempts (provider_message_id);
CREATE INDEX ntc_attempts_member ON ntc_attempts (notice, member, rung);
CREATE INDEX ntc_attempts_address ON ntc_attempts (address, created_at);
CREATE TABLE ntc_refusals (
    ts BIGINT NOT NULL,
    sender TEXT NOT NULL,
    title TEXT NOT NULL,
    classification TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""

# The home unit of a flowing recipient, saved at send time (NULL when the member was
# not flowing, or flowing within their own unit): the roll-up and ``?unit=`` read it
# from the receipt, not from the directory as it is now. Receipts stored before are
# filled from the directory as it is at the migration.
_V2: Final = """
ALTER TABLE ntc_receipts ADD COLUMN home_unit TEXT;
UPDATE ntc_receipts SET home_unit = (
    SELECT m.home_unit FROM dir_members m
    WHERE m.id = ntc_receipts.member AND m.flowing = 1 AND m.home_unit <> ntc_receipts.unit
);
CREATE INDEX ntc_receipts_home_unit ON ntc_receipts (notice, home_unit);
"""

MIGRATIONS: Final[list[Migration]] = [_V1, _V2]
