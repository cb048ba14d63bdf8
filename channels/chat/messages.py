"""The ``data`` of a message on a ``group:`` channel (group chat), validated on
publish::

    {"text": "明天上午九点开会", "mentions": ["m-001"], "reply_to": 12,
     "attachments": [{"name": "通知.pdf", "url": "https://…", "size": 52341,
                      "sha256": "…64 hex…"}]}

``text`` (≤ 4000 characters) or at least one attachment is required; ``mentions``
are member ids (≤ 50, or the single entry ``"all"``); ``reply_to`` is the offset
of an earlier message of the same channel; attachments are metadata only (≤ 10):
the file itself lives elsewhere. No other keys.
"""

from __future__ import annotations

import re
from typing import Any, Final

from hub.protocol.errors import Code, HubError

__all__ = ["MAX_ATTACHMENTS", "MAX_MENTIONS", "MAX_TEXT", "validate_group_message"]

MAX_TEXT: Final = 4000
MAX_MENTIONS: Final = 50
MAX_ATTACHMENTS: Final = 10
_KEYS: Final = frozenset({"text", "mentions", "reply_to", "attachments"})
_ATTACHMENT_KEYS: Final = frozenset({"name", "url", "size", "sha256", "mime"})
_MEMBER: Final = re.compile(r"[A-Za-z0-9_.\-:@]{1,128}")
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_URL: Final = re.compile(r"https?://\S{1,2040}")


def _bad(message: str) -> HubError:
    return HubError(Code.BAD_REQUEST, f"group message: {message}")


def _attachment(a: object, i: int) -> None:
    if not isinstance(a, dict):
        raise _bad(f"attachments[{i}] must be an object")
    extra = set(a) - _ATTACHMENT_KEYS
    if extra:
        raise _bad(f"attachments[{i}] has unknown keys: {', '.join(sorted(extra))}")
    name, url, size, digest = a.get("name"), a.get("url"), a.get("size"), a.get("sha256")
    if not isinstance(name, str) or not 0 < len(name) <= 255:
        raise _bad(f"attachments[{i}].name must be a string of 1 to 255 characters")
    if not isinstance(url, str) or not _URL.fullmatch(url):
        raise _bad(f"attachments[{i}].url must be an http(s) URL")
    if type(size) is not int or size < 0:
        raise _bad(f"attachments[{i}].size must be an integer >= 0 (bytes)")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise _bad(f"attachments[{i}].sha256 must be 64 lowercase hex digits")
    mime = a.get("mime")
    if mime is not None and (not isinstance(mime, str) or len(mime) > 255):
        raise _bad(f"attachments[{i}].mime must be a string")


def validate_group_message(data: Any) -> None:
    """Raise :class:`HubError` 107 when ``data`` is not a group chat message."""
    if not isinstance(data, dict):
        raise _bad("data must be an object")
    extra = set(data) - _KEYS
    if extra:
        raise _bad(f"unknown keys: {', '.join(sorted(extra))}")
    text = data.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
        raise _bad(f"text must be a string of at most {MAX_TEXT} characters")
    mentions = data.get("mentions")
    if mentions is not None:
        if not isinstance(mentions, list) or len(mentions) > MAX_MENTIONS:
            raise _bad(f"mentions must be a list of at most {MAX_MENTIONS} member ids")
        for m in mentions:
            if not isinstance(m, str) or not _MEMBER.fullmatch(m):
                raise _bad("mentions must be member ids (or 'all')")
    reply_to = data.get("reply_to")
    if reply_to is not None and (type(reply_to) is not int or reply_to < 1):
        raise _bad("reply_to must be the offset (>= 1) of an earlier message")
    attachments = data.get("attachments")
    if attachments is not None:
        if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
            raise _bad(f"attachments must be a list of at most {MAX_ATTACHMENTS}")
        for i, a in enumerate(attachments):
            _attachment(a, i)
    if not (isinstance(text, str) and text.strip()) and not attachments:
        raise _bad("text or at least one attachment is required")
