"""Per-conversation turn locks shared by several bot workers, in Redis.

Two levels: inside a worker, turns of one conversation queue in arrival order on the
in-memory lock; across workers, the worker whose turn it is holds a Redis key
(`SET NX PX`, a random token, released by a compare-and-delete script). The key expires
after `ttl` seconds (5 by default) unless the holder renews it (every ttl/3), so a worker
killed mid-turn blocks its conversation for at most that long.

Outages: Redis unreachable when a turn wants the lock is StoreUnavailable (503, Retry-After:
nothing has happened yet, the request can be sent again). Once the turn holds the lock, Redis
failing under it never fails the turn: a renewal that fails is logged and tried again, a key that
vanished (Redis restarted without its data) is taken again, and a release that fails after the
turn was stored is logged, the key expiring by itself."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from bot.background import stop_if_cancelling
from bot.errors import NotReady, StoreUnavailable
from bot.storage.memory_lock import InMemoryLockStore

log = logging.getLogger(__name__)

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
local held = redis.call('get', KEYS[1])
if held == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not held then return redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) and 2 or 0 end
return 0
"""
DEFAULT_TTL = 5.0
# the client gives up on an unreachable Redis quickly: a request gets its 503 instead of hanging
CLIENT_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0, "health_check_interval": 15}
POOL_SIZE, POOL_WAIT_S = 64, 5.0


def redis_client(url: str) -> Any:
    """A Redis client whose commands wait (up to POOL_WAIT_S) for one of POOL_SIZE connections:
    redis-py's default pool fails a command outright beyond 100 at once, which a busy worker's
    turns and renewals reach."""
    import redis.asyncio as redis

    pool = redis.BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=POOL_WAIT_S,
                                                 **CLIENT_OPTIONS)
    return redis.Redis(connection_pool=pool)


class RedisLockStore:
    def __init__(self, url: str, *, ttl: float = DEFAULT_TTL, wait: float = 60.0,
                 prefix: str = "switchboard:lock:") -> None:
        self.client: Any = redis_client(url)
        self.ttl, self.wait, self.prefix = ttl, wait, prefix
        self._local = InMemoryLockStore()

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.client.ping(), 3.0))
        except Exception:
            return False

    async def close(self) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()

    @asynccontextmanager
    async def lock(self, conversation_id: str) -> AsyncIterator[None]:
        async with self._local.lock(conversation_id):
            key, token = self.prefix + conversation_id, secrets.token_hex(16)
            await self._acquire(key, token)
            done = asyncio.Event()
            renewer = asyncio.create_task(self._renew(key, token, done))
            try:
                yield
            finally:
                # The renewer is told to stop, never cancelled in the middle of a Redis command (a
                # cancelled command could leave it, and the turn waiting for it, hanging), and not
                # waited for longer than a TTL: the turn is over whatever it does.
                done.set()
                await asyncio.wait({renewer}, timeout=self.ttl)
                if not renewer.done():
                    log.warning("conversation lock %s: renewal still running after the turn; left to finish", key)
                await self._release(key, token)

    async def _acquire(self, key: str, token: str) -> None:
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self.wait, 0.002
        while True:
            try:
                taken = await self.client.set(key, token, nx=True, px=int(self.ttl * 1000))
            except Exception as exc:
                log.warning("conversation lock %s: Redis is unavailable (%s)", key, type(exc).__name__)
                raise StoreUnavailable("redis") from exc
            if taken:
                return
            if loop.time() > deadline:
                raise NotReady(f"the conversation is busy: its lock is still held by another worker after {self.wait}s",
                               retry_after=max(1, int(self.ttl)))
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def _renew(self, key: str, token: str, done: asyncio.Event) -> None:
        while True:
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), self.ttl / 3)
            if done.is_set():
                return
            try:
                result = await self.client.eval(_RENEW, 1, key, token, int(self.ttl * 1000))
            except Exception as exc:  # the turn goes on; the next renewal tries again
                stop_if_cancelling(exc)
                log.warning("conversation lock %s: renewal failed (%s); retrying", key, type(exc).__name__)
                continue
            if result == 2:
                log.warning("conversation lock %s had vanished (Redis restarted?); taken again", key)
            elif result == 0:
                log.warning("conversation lock %s expired and another worker holds it now", key)

    async def _release(self, key: str, token: str) -> None:
        """After the turn: whatever happens here, the turn stays done (the key expires by itself)."""
        try:
            await self.client.eval(_RELEASE, 1, key, token)
        except Exception as exc:
            log.warning("conversation lock %s: release failed (%s); it expires within %.0fs", key,
                        type(exc).__name__, self.ttl)
