"""The address limiter's buckets in Redis: several workers give an address the rate in all, not
each; Redis's clock refills them; with Redis away each worker counts alone, and together again
once it is back (a private redis-server, stopped and started here)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

from bot.errors import TooManyRequests
from bot.server.limits import AddressLimiter
from bot.server.shared_limits import SharedAddressLimiter, rate_prefix
from bot.storage.redis_lock import RedisLockStore


def workers(redis: Any, n: int, *, rate: float, burst: int) -> tuple[list[SharedAddressLimiter], list[RedisLockStore]]:
    """n workers' limiters on one Redis, as the app makes them (the lock store's client)."""
    prefix = f"test:{uuid.uuid4().hex}:switchboard:lock:"
    stores = [RedisLockStore(redis.url(), prefix=prefix) for _ in range(n)]
    limiters = [SharedAddressLimiter(AddressLimiter(rate, burst), s.client, rate_prefix(s.prefix)) for s in stores]
    return limiters, stores


async def close(stores: list[RedisLockStore]) -> None:
    for store in stores:
        await store.close()


async def test_workers_share_one_budget_per_address(private_redis: Any) -> None:
    limiters, stores = workers(private_redis, 3, rate=0.001, burst=5)
    try:
        allowed = refused = 0
        for i in range(12):  # round robin over the workers, as one socket's accepts go
            try:
                await limiters[i % 3].check("10.0.0.1")
                allowed += 1
            except TooManyRequests as exc:
                refused += 1
                assert exc.retry_after is not None and exc.retry_after > 1
        assert (allowed, refused) == (5, 7)  # the burst in all, not three bursts
        await limiters[1].check("10.0.0.2")  # another address has a bucket of its own
    finally:
        await close(stores)


async def test_the_bucket_refills_at_the_rate(private_redis: Any) -> None:
    limiters, stores = workers(private_redis, 2, rate=20.0, burst=1)
    try:
        await limiters[0].check("a")
        with pytest.raises(TooManyRequests) as refused:
            await limiters[1].check("a")
        assert refused.value.retry_after == 1
        await asyncio.sleep(0.12)  # 20 a second: one back after 50 ms
        await limiters[1].check("a")
    finally:
        await close(stores)


async def test_with_redis_away_each_worker_counts_alone_then_together_again(private_redis: Any, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot.server.shared_limits")
    limiters, stores = workers(private_redis, 2, rate=0.001, burst=2)
    try:
        private_redis.stop()
        for limiter in limiters:  # each worker: its own burst of 2, no error for the client
            await limiter.check("b")
            await limiter.check("b")
            with pytest.raises(TooManyRequests):
                await limiter.check("b")
        assert "Redis is away" in caplog.text
        private_redis.start()
        for _ in range(50):  # the pool reconnects on the next command
            try:
                await limiters[0].client.ping()
                break
            except Exception:
                await asyncio.sleep(0.1)
        await limiters[0].check("c")
        await limiters[1].check("c")
        with pytest.raises(TooManyRequests):
            await limiters[0].check("c")  # shared again: the burst of 2 in all
        assert "Redis is back" in caplog.text
    finally:
        await close(stores)


def test_rate_keys_never_fall_among_lock_keys() -> None:
    assert rate_prefix("switchboard:lock:") == "switchboard:rate:"
    assert rate_prefix("shop:switchboard:lock:") == "shop:switchboard:rate:"
