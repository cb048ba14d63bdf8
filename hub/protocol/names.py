"""Channel names: ``namespace:name`` (PROTOCOL.md §4)."""

from __future__ import annotations

import re
from typing import Final

from hub.protocol.errors import Code, HubError

__all__ = ["member_channel", "namespace_of", "split_channel", "validate_channel"]

_CHANNEL: Final = re.compile(r"([a-z][a-z0-9_]{0,31}):([A-Za-z0-9_.\-:@]{1,128})")


def split_channel(channel: object) -> tuple[str, str]:
    """Return ``(namespace, name)`` or raise :class:`HubError` 102."""
    if not isinstance(channel, str):
        raise HubError(Code.BAD_REQUEST, "channel must be a string")
    m = _CHANNEL.fullmatch(channel)
    if m is None:
        raise HubError(Code.BAD_CHANNEL, f"bad channel name: {channel[:200]!r}")
    return m.group(1), m.group(2)


def validate_channel(channel: object) -> str:
    """Return ``channel`` when it is a well-formed channel name, else raise 102."""
    split_channel(channel)
    assert isinstance(channel, str)
    return channel


def namespace_of(channel: str) -> str:
    return channel.partition(":")[0]


def member_channel(member: str) -> str:
    return f"member:{member}"
