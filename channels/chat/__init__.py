"""Group chat on top of channels: message schema, read markers, unread counts."""

from __future__ import annotations

from channels.chat.markers import ReadMarkers
from channels.chat.messages import validate_group_message
from channels.chat.ops import ChatOps

__all__ = ["ChatOps", "ReadMarkers", "validate_group_message"]
