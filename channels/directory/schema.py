"""The directory's tables, as versioned migrations of component ``directory``
(portable SQL: SQLite ≥ 3.35 and PostgreSQL). Never edit a released step: add one."""

from __future__ import annotations

from typing import Final

from hub.core.interfaces import Migration

__all__ = ["COMPONENT", "MIGRATIONS"]

COMPONENT: Final = "directory"

_V1: Final = """
CREATE TABLE dir_units (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent TEXT REFERENCES dir_units (id),
    kind TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX dir_units_parent ON dir_units (parent);
CREATE INDEX dir_units_name ON dir_units (name);
CREATE TABLE dir_members (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    unit TEXT NOT NULL REFERENCES dir_units (id),
    roles TEXT NOT NULL,
    flowing INTEGER NOT NULL DEFAULT 0,
    home_unit TEXT REFERENCES dir_units (id),
    location TEXT,
    phone TEXT,
    wechat TEXT,
    wecom TEXT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX dir_members_unit ON dir_members (unit);
CREATE INDEX dir_members_home_unit ON dir_members (home_unit);
CREATE INDEX dir_members_name ON dir_members (name);
CREATE TABLE dir_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    unit TEXT REFERENCES dir_units (id),
    updated_at BIGINT NOT NULL
);
CREATE TABLE dir_group_members (
    group_id TEXT NOT NULL REFERENCES dir_groups (id) ON DELETE CASCADE,
    member TEXT NOT NULL REFERENCES dir_members (id) ON DELETE CASCADE,
    owner INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, member)
);
CREATE INDEX dir_group_members_member ON dir_group_members (member);
"""

MIGRATIONS: Final[list[Migration]] = [_V1]
