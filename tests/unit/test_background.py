"""bot/background.py: a periodic step that survives its failures and still stops when told."""
from __future__ import annotations

import asyncio

from bot.background import Periodic, stop_if_cancelling


async def test_a_failing_round_is_logged_and_the_next_one_runs(caplog) -> None:
    rounds: list[int] = []

    async def step() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ConnectionError("database away")

    job = Periodic(step, 0.01, "test-job")
    job.start()
    job.start()  # a second start keeps the one task
    for _ in range(200):
        if len(rounds) >= 3:
            break
        await asyncio.sleep(0.01)
    await job.stop()
    assert len(rounds) >= 3
    assert not job.running
    assert "test-job: the round failed" in caplog.text
    count = len(rounds)
    await asyncio.sleep(0.05)
    assert len(rounds) == count  # stopped means no more rounds
    await job.stop()  # stopping twice is harmless


async def test_stops_when_the_step_turns_the_cancellation_into_its_own_error() -> None:
    started = asyncio.Event()

    async def stubborn() -> None:  # a client library that reports a cancel as a connection error
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise ConnectionResetError("connection closed") from None

    job = Periodic(stubborn, 0.01, "stubborn")
    job.start()
    await started.wait()
    await asyncio.wait_for(job.stop(), 2)
    assert not job.running


async def test_the_interval_is_read_each_round() -> None:
    seconds = [0.01]
    rounds = 0

    async def step() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 2:
            seconds[0] = 10.0

    job = Periodic(step, lambda: seconds[0], "interval")
    job.start()
    await asyncio.sleep(0.2)
    await job.stop()
    assert rounds == 2


async def test_stop_if_cancelling_only_raises_in_a_task_being_cancelled() -> None:
    stop_if_cancelling(ValueError("not cancelling"))  # nothing happens

    caught: list[BaseException] = []

    async def body() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            try:
                stop_if_cancelling(OSError("converted"))
            except asyncio.CancelledError as exc:
                caught.append(exc)
                raise

    task = asyncio.create_task(body())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(caught) == 1 and isinstance(caught[0].__cause__, OSError)
