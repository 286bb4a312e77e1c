"""Limits that keep one client from starving the others:

- `AddressLimiter`: a token bucket per client address (server.rate_limit requests a second,
  bursts of server.rate_limit_burst); beyond it TooManyRequests (429, Retry-After). In memory,
  per worker; `SharedAddressLimiter` keeps the same buckets in the lock store's Redis, so that
  several workers give an address the rate in all (bot/server/shared_limits.py);
- `TurnAdmission`: at most server.max_waiting_turns_per_conversation turns of one conversation
  wait behind the one running (turns of a conversation run one at a time, under its lock);
  one more is refused with TooManyRequests instead of queueing without bound (per worker: a
  conversation's turns queue on the worker that took them).

Both are off with 0."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from bot.errors import TooManyRequests

MAX_ADDRESSES = 10_000  # buckets kept before the idle (full) ones are forgotten


class RateLimiter(Protocol):
    @property
    def enabled(self) -> bool: ...

    async def check(self, address: str) -> None:
        """Spend one request of `address`, or raise TooManyRequests (429, Retry-After)."""


@dataclass
class _Bucket:
    tokens: float
    at: float


class AddressLimiter:
    """Token buckets by client address: `rate` tokens a second, `burst` at most; a request takes one."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    async def check(self, address: str) -> None:
        """The limiters' one interface (RateLimiter): `take` now."""
        self.take(address)

    def take(self, address: str, *, now: float | None = None) -> None:
        """Spend one token of `address`, or raise TooManyRequests saying when one is back."""
        if not self.enabled:
            return
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= MAX_ADDRESSES:
                self._forget_idle(now)
            bucket = self._buckets[address] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            raise refusal(address, self.rate, self.burst, max(1, math.ceil((1.0 - bucket.tokens) / self.rate)))
        bucket.tokens -= 1.0

    def _forget_idle(self, now: float) -> None:
        """Drop the buckets that have filled up again (their clients went quiet): they hold nothing."""
        idle = [a for a, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for address in idle:
            del self._buckets[address]

    def __len__(self) -> int:
        return len(self._buckets)


def refusal(address: str, rate: float, burst: int, wait: int) -> TooManyRequests:
    return TooManyRequests(f"too many requests from {address}: at most {rate:g} a second (bursts of {burst}); "
                           f"try again in {wait} s", retry_after=wait)


class TurnAdmission:
    """Counts the turns of each conversation in this worker (the running one and those waiting for
    its lock); `max_waiting` of them may wait, 0 means no bound."""

    def __init__(self, max_waiting: int) -> None:
        self.max_waiting = max_waiting
        self._turns: dict[str, int] = {}

    @contextmanager
    def admit(self, conversation_id: str) -> Iterator[None]:
        count = self._turns.get(conversation_id, 0)
        if self.max_waiting > 0 and count > self.max_waiting:  # one running, max_waiting queued
            raise TooManyRequests(f"conversation {conversation_id!r} has {count - 1} messages waiting already "
                                  f"(at most {self.max_waiting}); send this one after the bot answers",
                                  retry_after=1)
        self._turns[conversation_id] = count + 1
        try:
            yield
        finally:
            left = self._turns[conversation_id] - 1
            if left:
                self._turns[conversation_id] = left
            else:
                del self._turns[conversation_id]

    def turns(self, conversation_id: str) -> int:
        """Turns of the conversation in this worker now, the running one included."""
        return self._turns.get(conversation_id, 0)
