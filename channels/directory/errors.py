"""Errors of the directory's operations, with the HTTP status they answer.

Exception hierarchy::

    DirectoryError          status, code (PROTOCOL.md §5), message (zh-CN), details
      NotFound              404 / 113: the record named in the path does not exist
      Conflict              409 / 107: duplicate id, a unit still in use, a cycle
      Invalid               400 / 107: a field (``field``, ``reason``) or a whole import
"""

from __future__ import annotations

from typing import Any

from hub.protocol.errors import Code

__all__ = ["Conflict", "DirectoryError", "Invalid", "NotFound"]


class DirectoryError(Exception):
    status = 400
    code = int(Code.BAD_REQUEST)

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class NotFound(DirectoryError):
    status = 404
    code = int(Code.NOT_FOUND)


class Conflict(DirectoryError):
    status = 409


class Invalid(DirectoryError):
    status = 400
