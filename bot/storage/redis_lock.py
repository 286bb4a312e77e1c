"""Per-conversation turn locks shared by several bot workers, in Redis.

Two levels: inside a worker, turns of one conversation queue in arrival order on the
in-memory lock; across workers, the worker whose turn it is holds a Redis key
(`SET NX PX`, a random token, released by a compare-and-delete script). The key expires
after `ttl` seconds unless the holder renews it, so a crashed worker cannot block a
conversation for longer than that."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from bot.errors import NotReady
from bot.storage.memory_lock import InMemoryLockStore

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class RedisLockStore:
    def __init__(self, url: str, *, ttl: float = 30.0, wait: float = 60.0, prefix: str = "switchboard:lock:") -> None:
        import redis.asyncio as redis

        self.client: Any = redis.Redis.from_url(url)
        self.ttl, self.wait, self.prefix = ttl, wait, prefix
        self._local = InMemoryLockStore()

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self.client.aclose()

    @asynccontextmanager
    async def lock(self, conversation_id: str) -> AsyncIterator[None]:
        async with self._local.lock(conversation_id):
            key, token = self.prefix + conversation_id, secrets.token_hex(16)
            await self._acquire(key, token)
            renewer = asyncio.create_task(self._renew(key, token))
            try:
                yield
            finally:
                renewer.cancel()
                with suppress(asyncio.CancelledError):
                    await renewer
                await self.client.eval(_RELEASE, 1, key, token)

    async def _acquire(self, key: str, token: str) -> None:
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self.wait, 0.002
        while not await self.client.set(key, token, nx=True, px=int(self.ttl * 1000)):
            if loop.time() > deadline:
                raise NotReady(f"conversation lock {key!r} still held by another worker after {self.wait}s")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def _renew(self, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            await self.client.eval(_RENEW, 1, key, token, int(self.ttl * 1000))
