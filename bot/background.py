"""Background work of a worker: a step repeated at an interval until the worker stops.

The outbox dispatcher, the reminders, the retention job, the lock renewer and the console's live
updates all loop around something that may fail for a while (a database or Redis away) and must
still end promptly when cancelled. One shape here, so that each of them gets it right the same way.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


def stop_if_cancelling(exc: BaseException) -> None:
    """Raise CancelledError when the current task is being cancelled. Call it from an `except
    Exception`: some clients (database drivers, Redis) turn a cancellation into their own error,
    and a loop that logged it and went on would never stop (Python 3.11's wait_for can also
    swallow one cancel)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


class Periodic:
    """`step` run every `seconds` in a task of its own; a failed step is logged and the next
    round tries again. `start` and `stop` are idempotent."""

    def __init__(self, step: Callable[[], Awaitable[object]], seconds: Callable[[], float] | float,
                 name: str) -> None:
        self._step, self._seconds, self.name = step, seconds, name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store briefly away: the next round tries again
                stop_if_cancelling(exc)
                log.exception("%s: the round failed", self.name)
            seconds = self._seconds() if callable(self._seconds) else self._seconds
            await asyncio.sleep(seconds)
