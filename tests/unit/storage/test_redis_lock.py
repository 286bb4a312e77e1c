"""The Redis lock store against the machine's Redis: exclusion across stores (workers),
order within one, expiry after a crash, and nothing left behind."""

from __future__ import annotations

import asyncio
import os
import uuid
from bench.private_servers import PrivateRedis
from collections.abc import AsyncIterator

import pytest

from bot.errors import StoreUnavailable
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


# -- outages and crashes, on a private redis-server that the tests stop and start ----------------


async def test_the_release_after_a_committed_turn_never_fails_it(private_redis: PrivateRedis) -> None:
    """Redis gone between the commit and the release: the turn is stored, so the lock's exit must
    not raise (it logs; the key expires by itself)."""
    store = RedisLockStore(private_redis.url(), ttl=1.0, wait=2.0)
    try:
        async with store.lock("c"):
            await asyncio.to_thread(private_redis.stop)
    finally:
        await store.close()


async def test_a_renewal_lost_to_an_outage_does_not_fail_the_turn(private_redis: PrivateRedis) -> None:
    store = RedisLockStore(private_redis.url(), ttl=0.6, wait=5.0)
    try:
        async with store.lock("c"):
            await asyncio.to_thread(private_redis.stop)
            await asyncio.sleep(0.5)  # renewals (every ttl/3) fail meanwhile
            await asyncio.to_thread(private_redis.start)
        async with store.lock("c"):  # the same client works again after the outage
            pass
    finally:
        await store.close()


async def test_an_outage_at_acquire_is_a_503_with_retry_after(private_redis: PrivateRedis) -> None:
    from bot.errors import StoreUnavailable

    store = RedisLockStore(private_redis.url(), ttl=1.0, wait=5.0)
    try:
        async with store.lock("c"):  # a pooled connection that goes stale with the restart below
            pass
        await asyncio.to_thread(private_redis.stop)
        with pytest.raises(StoreUnavailable) as caught:
            async with store.lock("c"):
                pass
        assert caught.value.status == 503 and caught.value.store == "redis" and caught.value.retry_after >= 1
        assert "redis" in str(caught.value).lower()
        await asyncio.to_thread(private_redis.start)
        async with store.lock("c"):  # back by itself: no stale connection, no stuck local lock
            pass
    finally:
        await store.close()


async def test_a_worker_killed_holding_a_lock_blocks_it_for_its_ttl_at_most(private_redis: PrivateRedis) -> None:
    """SIGKILL mid-turn: nobody releases the key. Its TTL is short (renewed while the holder
    lives), so the conversation's next turn gets it once the TTL has run out."""
    import signal
    import subprocess
    import sys

    assert RedisLockStore(private_redis.url()).ttl <= 10.0  # the default: short, with renewal
    url, ttl = private_redis.url(), 1.0
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import asyncio, sys\nfrom bot.storage.redis_lock import RedisLockStore\n"
         "async def main():\n"
         f"    store = RedisLockStore({url!r}, ttl={ttl})\n"
         "    async with store.lock('c'):\n"
         "        print('held', flush=True)\n"
         "        await asyncio.sleep(3600)\n"
         "asyncio.run(main())\n"],
        stdout=subprocess.PIPE, text=True)
    store = RedisLockStore(url, ttl=ttl, wait=4 * ttl)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        await asyncio.sleep(2 * ttl)  # the living holder keeps renewing it past its TTL
        assert await store.client.exists(store.prefix + "c") == 1
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        async with store.lock("c"):  # within `wait` (4 TTLs): no NotReady
            pass
    finally:
        holder.kill()
        await store.close()


async def test_turns_ending_while_their_lock_is_being_renewed_never_hang(private_redis: PrivateRedis) -> None:
    """Thousands of short turns whose renewals (a 30 ms TTL: every 10 ms) are often in flight as the
    turn ends. Cancelling a renewal in the middle of its Redis command once left a few turns, and
    their conversations' locks, hanging for good (seen in the fault bench)."""
    import random

    store = RedisLockStore(private_redis.url(), ttl=0.03, wait=120.0)
    ended: list[int] = []

    async def turn(i: int) -> None:
        try:
            async with store.lock(f"short-{i}"):
                await asyncio.sleep(random.random() * 0.05)
        except StoreUnavailable:  # on a busy machine the pool's wait can run out: a clear 503, not a hang
            pass
        ended.append(i)

    try:
        tasks = [asyncio.create_task(turn(i)) for i in range(2000)]
        await asyncio.wait(tasks, timeout=120)  # a bound for a failure only; it takes seconds
        assert len(ended) == 2000, f"{2000 - len(ended)} turns never left their lock"
        await asyncio.sleep(10 * store.ttl)  # a release the busy pool could not make: its key expires
        assert await store.client.keys(store.prefix + "short-*") == []
    finally:
        await store.close()
