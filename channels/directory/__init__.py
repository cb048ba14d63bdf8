"""The org directory: units tree, members and roles, chat groups; CSV import/export."""

from __future__ import annotations

from channels.directory.errors import Conflict, DirectoryError, Invalid, NotFound
from channels.directory.model import Group, Member, Unit
from channels.directory.phone import mask_phone, mask_wechat, normalize_phone
from channels.directory.schema import COMPONENT, MIGRATIONS
from channels.directory.service import Access, Directory

__all__ = [
    "COMPONENT",
    "MIGRATIONS",
    "Access",
    "Conflict",
    "Directory",
    "DirectoryError",
    "Group",
    "Invalid",
    "Member",
    "NotFound",
    "Unit",
    "mask_phone",
    "mask_wechat",
    "normalize_phone",
]
