"""What the SQLite and PostgreSQL stores share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.core.interfaces import Migration

__all__ = ["InTransaction", "script_for"]


def script_for(step: Migration, dialect: str) -> str:
    """A migration step's SQL for ``dialect`` (a step is one script or one per dialect)."""
    return step if isinstance(step, str) else step[dialect]


class InTransaction:
    """Base of a :class:`~hub.core.interfaces.Database` bound to an open transaction:
    what cannot be done inside one."""

    def transaction(self) -> Any:
        raise RuntimeError("nested transactions are not supported")

    async def migrate(self, component: str, steps: Sequence[Migration]) -> list[int]:
        raise RuntimeError("migrate outside a transaction")
