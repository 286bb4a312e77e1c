"""The address limiter's buckets in Redis, for several workers.

Each worker keeping its own buckets gives an address N times the configured rate over N workers
(the workers take turns accepting from one socket). With a Redis lock store, the buckets live
there instead: one Lua script refills and spends a bucket atomically on Redis's own clock, so every
worker sees the same count. While Redis is away, each worker falls back to its own buckets (the
rate per worker) rather than refusing everyone or letting everyone through; it says so once per
outage."""

from __future__ import annotations

import logging
from typing import Any

from bot.server.limits import AddressLimiter, refusal

log = logging.getLogger(__name__)

# KEYS[1]: the bucket (a hash: tokens, at); ARGV: rate a second, burst. Returns {1, 0} when a token
# was spent, else {0, milliseconds until one is back}. The bucket expires once it would be full.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(bucket[1]), tonumber(bucket[2])
if tokens == nil or at == nil then tokens, at = burst, t end
tokens = math.min(burst, tokens + math.max(0, t - at) * rate)
local spent = 0
if tokens >= 1 then tokens = tokens - 1; spent = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
if spent == 1 then return {1, 0} end
return {0, math.ceil((1 - tokens) / rate * 1000)}
"""


class SharedAddressLimiter:
    """AddressLimiter's buckets in Redis (`client`: the lock store's), under `prefix`."""

    def __init__(self, local: AddressLimiter, client: Any, prefix: str) -> None:
        self.local, self.client, self.prefix = local, client, prefix
        self._away = False

    @property
    def enabled(self) -> bool:
        return self.local.enabled

    async def check(self, address: str) -> None:
        if not self.enabled:
            return
        try:
            spent, wait_ms = await self.client.eval(_TAKE, 1, self.prefix + address, self.local.rate, self.local.burst)
        except Exception as exc:  # Redis away: this worker's own buckets meanwhile
            if not self._away:
                log.warning("rate limits: Redis is away (%s); each worker counts its own clients until it is back",
                            type(exc).__name__)
                self._away = True
            self.local.take(address)
            return
        if self._away:
            log.info("rate limits: Redis is back; the workers count together again")
            self._away = False
        if not int(spent):
            raise refusal(address, self.local.rate, self.local.burst, max(1, -(-int(wait_ms) // 1000)))


def rate_prefix(lock_prefix: str) -> str:
    """The buckets' keys beside the locks' (`switchboard:lock:` -> `switchboard:rate:`), never among
    them: a conversation id may be anything, so `lock:` + id could be any key under `lock:`."""
    return (lock_prefix[: -len("lock:")] if lock_prefix.endswith("lock:") else lock_prefix) + "rate:"
