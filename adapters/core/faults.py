"""Error classes a stand-in can be told to answer, one request at a time."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Literal, get_args

__all__ = ["FAULT_KINDS", "FaultKind", "Faults"]

# echo_input: an error whose text echoes the request — numbers and credentials —
# as a careless provider might (the adapters must not log it as it is)
FaultKind = Literal[
    "expired_token", "rate_limited", "invalid_number", "server_error", "timeout", "echo_input"
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)


class Faults:
    """A queue of faults consumed by the next send requests, in order."""

    def __init__(self) -> None:
        self._queue: deque[FaultKind] = deque()
        self._release = asyncio.Event()

    def inject(self, kind: FaultKind, times: int = 1) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        self._queue.extend([kind] * times)

    def take(self) -> FaultKind | None:
        return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        self._queue.clear()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def hang(self, limit: float = 60.0) -> None:
        """Hold a request without answering until the stand-in closes (or ``limit``)."""
        try:
            await asyncio.wait_for(self._release.wait(), limit)
        except TimeoutError:
            return

    def release(self) -> None:
        self._release.set()
