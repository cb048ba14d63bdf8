"""Group commit: items submitted during one loop turn are written in one batch.

While a batch is being written the next one gathers; every submitter of a
batch waits on the same future. The store is never on the latency path of a
live delivery: fan-out happens before ``submit``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["BatchWriter"]

T = TypeVar("T")
log = logging.getLogger("hub.store")


class BatchWriter(Generic[T]):
    __slots__ = ("_closed", "_future", "_interval", "_items", "_max_batch", "_task", "_write")

    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[None]],
        *,
        max_batch: int = 5000,
        interval: float = 0.0,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._interval = interval
        self._items: list[T] = []
        self._future: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        return len(self._items)

    def submit(self, item: T) -> asyncio.Future[None]:
        """Queue ``item``; the returned future resolves when its batch is committed."""
        if self._closed:
            raise RuntimeError("batch writer is closed")
        self._items.append(item)
        fut = self._future
        if fut is None:
            fut = self._future = asyncio.get_running_loop().create_future()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return fut

    async def _run(self) -> None:
        try:
            while self._items:
                if self._interval:
                    await asyncio.sleep(self._interval)
                else:
                    await asyncio.sleep(0)  # let this loop turn's items gather
                items, fut = self._items, self._future
                self._items, self._future = [], None
                assert fut is not None
                for start in range(0, len(items), self._max_batch):
                    chunk = items[start : start + self._max_batch]
                    try:
                        await self._write(chunk)
                    except Exception as exc:
                        log.error("batch write of %d items failed: %s", len(chunk), exc)
                        if not fut.done():
                            fut.set_exception(exc)
                            fut.exception()  # mark retrieved: submitters may have gone
                        break
                if not fut.done():
                    fut.set_result(None)
        finally:
            self._task = None

    async def drain(self) -> None:
        """Wait until everything submitted so far is written (or failed)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        await self.drain()
        self._closed = True
