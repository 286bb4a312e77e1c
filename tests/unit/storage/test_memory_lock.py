"""InMemoryLockStore: per-conversation serialisation, FIFO order, no leftover locks.

Tasks are sequenced with events and sleep(0) yields only; nothing depends on wall time.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.storage.memory_lock import InMemoryLockStore


async def settle(rounds: int = 10) -> None:
    """Let every ready task run until it blocks."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def test_waiters_acquire_in_arrival_order() -> None:
    store = InMemoryLockStore()
    order: list[int] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with store.lock("c"):
            await release.wait()

    async def waiter(i: int) -> None:
        async with store.lock("c"):
            order.append(i)
            await asyncio.sleep(0)

    first = asyncio.create_task(holder())
    await settle()
    waiters = []
    for i in range(10):
        waiters.append(asyncio.create_task(waiter(i)))
        await settle(2)  # each waiter is queued before the next one arrives
    release.set()
    await asyncio.gather(first, *waiters)
    assert order == list(range(10))


async def test_late_arrival_does_not_overtake_a_woken_waiter() -> None:
    store = InMemoryLockStore()
    order: list[str] = []

    async def turn(name: str) -> None:
        async with store.lock("c"):
            order.append(name)
            await settle(3)

    async with store.lock("c"):
        waiter = asyncio.create_task(turn("waiter"))
        await settle()
    # released without yielding: the waiter is woken but has not run, and we ask again at once
    async with store.lock("c"):
        order.append("late")
    await waiter
    assert order == ["waiter", "late"]
    assert len(store) == 0


async def test_turns_of_one_conversation_never_overlap() -> None:
    store = InMemoryLockStore()
    inside = 0
    most = 0
    done = 0

    async def turn() -> None:
        nonlocal inside, most, done
        async with store.lock("same"):
            inside += 1
            most = max(most, inside)
            await settle(3)
            inside -= 1
            done += 1

    await asyncio.gather(*(turn() for _ in range(50)))
    assert most == 1 and done == 50 and inside == 0


async def test_different_conversations_run_concurrently() -> None:
    store = InMemoryLockStore()
    both_inside = asyncio.Event()
    inside: set[str] = set()

    async def turn(cid: str) -> None:
        async with store.lock(cid):
            inside.add(cid)
            if len(inside) == 2:
                both_inside.set()
            await both_inside.wait()  # would deadlock if "a" and "b" shared a lock

    await asyncio.wait_for(asyncio.gather(turn("a"), turn("b")), timeout=10)
    assert inside == {"a", "b"}


async def test_locks_are_removed_after_use() -> None:
    store = InMemoryLockStore()
    release = asyncio.Event()

    async def turn(cid: str) -> None:
        async with store.lock(cid):
            await release.wait()

    tasks = [asyncio.create_task(turn(f"c{i % 5}")) for i in range(20)]
    await settle()
    assert len(store) == 5  # one entry per id, holders and waiters together
    release.set()
    await asyncio.gather(*tasks)
    assert len(store) == 0


async def test_cancelled_waiter_and_failing_turn_leave_nothing_behind() -> None:
    store = InMemoryLockStore()
    release = asyncio.Event()

    async def holder() -> None:
        async with store.lock("c"):
            await release.wait()

    async def waiter() -> None:
        async with store.lock("c"):
            raise AssertionError("a cancelled waiter must never get the lock")

    first = asyncio.create_task(holder())
    await settle()
    second = asyncio.create_task(waiter())
    await settle()
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    release.set()
    await first
    assert len(store) == 0

    with pytest.raises(RuntimeError):
        async with store.lock("boom"):
            raise RuntimeError("turn failed")
    assert len(store) == 0
    async with store.lock("boom"):  # the lock was released by the failure
        pass
