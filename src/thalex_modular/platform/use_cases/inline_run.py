"""Run a coroutine inline, in the caller, until it has to wait; a task finishes it from there.

For the websocket reader's drain hook: the usual run never waits (nothing blocks a send), so it completes with no
event-loop hop; the rare one that waits (a full socket buffer, an awaited RPC) continues on a task exactly as an
``await`` would have, its state (e.g. a held lock) intact. The inline part runs outside any task: code in it must
not need ``asyncio.current_task()`` (``asyncio.timeout`` does) until its first suspension.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["run_inline"]


def run_inline(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None:
    """Run ``coro`` now until it finishes (returns None) or first suspends (returns the task that finishes it)."""
    try:
        awaited = coro.send(None)
    except StopIteration:
        return None
    task = asyncio.get_running_loop().create_task(_finish(coro, awaited), name=name)
    # a task cancelled before its first step never reaches _finish's body: close the coroutine then, so its
    # finally blocks run (a held lock is released); a finished coroutine ignores close()
    task.add_done_callback(lambda _: coro.close())
    return task


async def _finish(run: Coroutine[Any, Any, None], awaited: Any) -> None:
    """Drive ``run``, a coroutine started synchronously that suspended on ``awaited``, to its end (on a task)."""
    await _Resume(run, awaited)


class _Resume:
    """Awaiting this continues a started coroutine, like ``await`` would have: what the task sends or throws goes
    to the coroutine, what it yields (the future it waits for) goes to the task."""

    __slots__ = ("_awaited", "_run")

    def __init__(self, run: Coroutine[Any, Any, None], awaited: Any) -> None:
        self._run = run
        self._awaited = awaited

    def __await__(self) -> Generator[Any, Any, None]:
        run, awaited = self._run, self._awaited
        while True:
            try:
                sent = yield awaited
            except GeneratorExit:
                run.close()
                raise
            except BaseException as exc:  # cancellation too: it belongs to the coroutine
                try:
                    awaited = run.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    awaited = run.send(sent)
                except StopIteration:
                    return
