"""The Redis lock store against the machine's Redis: exclusion across stores (workers),
order within one, expiry after a crash, and nothing left behind."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from bot.storage.redis_lock import RedisLockStore
from tests.conftest import missing, port_open

REDIS_URL = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def stores() -> AsyncIterator[list[RedisLockStore]]:
    if not port_open("127.0.0.1", 6379):
        missing("Redis is not listening on 127.0.0.1:6379")
    prefix = f"test:{uuid.uuid4().hex}:"
    made = [RedisLockStore(REDIS_URL, ttl=1.0, wait=10.0, prefix=prefix) for _ in range(3)]
    yield made
    for store in made:
        await store.close()


async def test_workers_never_overlap_on_one_conversation(stores: list[RedisLockStore]) -> None:
    inside, most = 0, 0

    async def turn(store: RedisLockStore) -> None:
        nonlocal inside, most
        async with store.lock("c1"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(turn(stores[i % 3]) for i in range(30)))
    assert most == 1


async def test_one_worker_keeps_arrival_order(stores: list[RedisLockStore]) -> None:
    order: list[int] = []

    async def turn(i: int) -> None:
        async with stores[0].lock("c2"):
            order.append(i)
            await asyncio.sleep(0.005)

    tasks = []
    for i in range(10):
        tasks.append(asyncio.create_task(turn(i)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == list(range(10))


async def test_other_conversations_run_concurrently(stores: list[RedisLockStore]) -> None:
    started = asyncio.Event()

    async def holder() -> None:
        async with stores[0].lock("a"):
            started.set()
            await asyncio.sleep(0.3)

    task = asyncio.create_task(holder())
    await started.wait()
    async with stores[1].lock("b"):  # not blocked by "a"
        assert not task.done()
    await task


async def test_a_crashed_holders_lock_expires(stores: list[RedisLockStore]) -> None:
    key = stores[0].prefix + "c3"
    await stores[0].client.set(key, "dead-worker", px=300)  # a worker that died holding it
    async with stores[1].lock("c3"):
        assert (await stores[1].client.get(key)) != b"dead-worker"
    assert await stores[1].client.exists(key) == 0  # released


async def test_a_long_turn_keeps_its_lock_alive(stores: list[RedisLockStore]) -> None:
    key = stores[0].prefix + "c4"
    async with stores[0].lock("c4"):
        await asyncio.sleep(1.5)  # longer than the 1 s ttl: the holder renews it
        assert await stores[0].client.exists(key) == 1
    assert await stores[0].client.exists(key) == 0
