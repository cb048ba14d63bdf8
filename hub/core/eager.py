"""Run a coroutine eagerly: its first part runs now, in the caller's frame; only if
it has to wait does the rest continue in a task (what ``asyncio.eager_task_factory``
does from Python 3.12 on).

The hub handles most requests without ever waiting (publish to a loaded channel,
ping, presence): run eagerly from ``data_received``, they cost no task, and the
publications of every request read in one loop turn leave in one write per
subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["finish", "start"]

_Step = Any  # what a coroutine yields to the event loop: a Future, or None (sleep(0))


def start(coro: Coroutine[Any, Any, Any]) -> tuple[bool, _Step]:
    """Run ``coro`` until it first waits. Returns ``(True, None)`` when it finished,
    else ``(False, step)``: pass both to :func:`finish` in a task to continue."""
    try:
        step = coro.send(None)
    except StopIteration:
        return True, None
    return False, step


async def finish(coro: Coroutine[Any, Any, Any], step: _Step) -> None:
    """Continue a coroutine that :func:`start` left waiting on ``step``."""
    while True:
        try:
            if step is None:  # a bare yield: give the loop one turn
                await asyncio.sleep(0)
            else:
                # A Future, yielded as a task would receive it: the task clears its
                # "blocking" flag before it waits (else the await fails).
                step._asyncio_future_blocking = False
                await step
        except BaseException as exc:  # the wait failed or this task was cancelled
            try:
                step = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            step = coro.send(None)  # Future.__await__ returns the result itself
        except StopIteration:
            return
