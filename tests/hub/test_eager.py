"""Eager coroutines: the part before the first wait runs in the caller, the rest in a
task, with the same results, exceptions and cancellation as a plain task."""

from __future__ import annotations

import asyncio

import pytest

from hub.core import eager


async def test_finishes_without_waiting() -> None:
    seen: list[str] = []

    async def work() -> None:
        seen.append("ran")

    done, step = eager.start(work())
    assert done and step is None and seen == ["ran"]  # before any loop turn


async def test_continues_after_futures_and_yields() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    seen: list[object] = []

    async def work() -> None:
        seen.append("before")
        seen.append(await fut)
        await asyncio.sleep(0)
        seen.append(await asyncio.sleep(0.001, result="slept"))
        seen.append(await loop.run_in_executor(None, lambda: "thread"))

    coro = work()
    done, step = eager.start(coro)
    assert not done and seen == ["before"]
    task = asyncio.create_task(eager.finish(coro, step))
    loop.call_soon(fut.set_result, 42)
    await task
    assert seen == ["before", 42, "slept", "thread"]


async def test_exception_from_a_future_reaches_the_coroutine() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    caught: list[BaseException] = []

    async def work() -> None:
        try:
            await fut
        except ValueError as exc:
            caught.append(exc)
            raise RuntimeError("after") from exc

    coro = work()
    _, step = eager.start(coro)
    task = asyncio.create_task(eager.finish(coro, step))
    fut.set_exception(ValueError("boom"))
    with pytest.raises(RuntimeError, match="after"):
        await task
    assert isinstance(caught[0], ValueError)


async def test_cancelling_the_task_cancels_the_coroutine() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    cleaned: list[str] = []

    async def work() -> None:
        try:
            await fut
        finally:
            cleaned.append("finally")

    coro = work()
    _, step = eager.start(coro)
    task = asyncio.create_task(eager.finish(coro, step))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["finally"] and fut.cancelled()
