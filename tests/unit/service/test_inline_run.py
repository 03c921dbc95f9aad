"""run_inline: a coroutine runs in the caller until it waits, then a task finishes it like an await would."""

from __future__ import annotations

import asyncio

import pytest

from thalex_modular.platform.use_cases.inline_run import run_inline


async def test_a_coroutine_that_never_waits_completes_in_the_caller() -> None:
    done: list[str] = []

    async def work() -> None:
        done.append("ran")

    assert run_inline(work(), "t") is None
    assert done == ["ran"]


async def test_a_waiting_coroutine_is_finished_on_a_task_with_the_awaited_value() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[int] = loop.create_future()
    seen: list[object] = []

    async def work() -> None:
        seen.append("before")
        seen.append(await gate)
        await asyncio.sleep(0)
        seen.append("after")

    task = run_inline(work(), "t")
    assert task is not None and seen == ["before"]
    gate.set_result(7)
    await task
    assert seen == ["before", 7, "after"]


@pytest.mark.parametrize("task_started", [False, True])
async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits(task_started: bool) -> None:
    lock = asyncio.Lock()
    released: list[bool] = []

    async def work() -> None:
        async with lock:
            try:
                await asyncio.Event().wait()
            finally:
                released.append(True)

    task = run_inline(work(), "t")
    assert task is not None and lock.locked()
    if task_started:
        await asyncio.sleep(0)  # the task took over the wait
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert released == [True] and not lock.locked()
