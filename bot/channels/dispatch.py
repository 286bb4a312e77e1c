"""The dispatcher: delivers the outbox through the output channels, once each, in order.

A turn (or an agent's reply) writes its messages to the outbox in the transaction that stores
its events; right after that commit, still under the conversation's lock, this worker delivers
them (`on_events`, a tracker-store listener). What fails for a reason that may pass (the platform
is down, rate-limits us, the widget is closed) is retried with exponential back-off by whichever
worker's poll finds it due: it claims the conversation's pending messages (bot/storage/outbox.py)
under the conversation's lock and sends them oldest first, stopping at the first that fails, so
a conversation's messages never overtake each other. A message is given up (`failed`) after
`max_attempts`, or at once when the platform refuses it for good; the agent console shows it
undelivered and can resend it. A widget that reconnects gets what it missed (`reconnected`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.background import Periodic
from bot.channels.base import DeliveryError
from bot.errors import NotFound
from bot.storage.base import LockStore
from bot.storage.outbox import FAILED, PENDING, SENT, Delivery, OutboxStore

if TYPE_CHECKING:
    from bot.channels.base import OutputChannel
    from bot.tracker import State

log = logging.getLogger(__name__)
#: told of every delivery whose status changed (the agent console's live updates)
OnChange = Callable[[Delivery], Awaitable[None]]


class Dispatcher:
    def __init__(self, store: OutboxStore, locks: LockStore, outputs: "Mapping[str, OutputChannel]", *,
                 poll_seconds: float = 1.0, first_retry: float = 2.0, max_retry: float = 300.0,
                 max_attempts: int = 12, claim_timeout: float = 300.0, concurrency: int = 8,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.locks, self.outputs = store, locks, outputs
        self.poll_seconds, self.first_retry, self.max_retry = poll_seconds, first_retry, max_retry
        self.max_attempts, self.claim_timeout, self.clock = max_attempts, claim_timeout, clock
        self.listeners: list[OnChange] = []
        self._slots = asyncio.Semaphore(concurrency)
        self._poller = Periodic(self.poll_once, lambda: self.poll_seconds, "outbox")

    # -- delivering ------------------------------------------------------------------------------

    async def on_events(self, conversation_id: str, events: Sequence[dict[str, Any]], state: "State") -> None:
        """A tracker-store listener: an append that wrote outbox messages has just committed, and
        its writer holds the conversation's lock (every append is made under it)."""
        if any("delivery_id" in (e.get("metadata") or {}) for e in events):
            await self.deliver(conversation_id)

    async def flush(self, conversation_id: str) -> list[Delivery]:
        """Deliver the conversation's pending messages, from outside a turn (takes its lock)."""
        async with self.locks.lock(conversation_id):
            return await self.deliver(conversation_id)

    async def deliver(self, conversation_id: str) -> list[Delivery]:
        """Send the conversation's pending messages oldest first, stopping at the first that may
        go through later; the caller holds the conversation's lock. Returns what was tried."""
        claimed = await self.store.claim(conversation_id, self.clock())
        tried: list[Delivery] = []
        for index, delivery in enumerate(claimed):
            outcome = await self._attempt(delivery)
            tried.append(outcome)
            await self._changed(outcome)
            if outcome.status == PENDING:  # later ones wait behind it
                await self.store.release(claimed[index + 1:], outcome.next_attempt_at)
                break
        return tried

    async def _attempt(self, delivery: Delivery) -> Delivery:
        output = self.outputs.get(delivery.channel)
        now = self.clock()
        try:
            if output is None:
                raise DeliveryError(f"the {delivery.channel} channel is not configured on this server", permanent=True)
            await output.send(delivery.conversation_id, delivery.message, skip=delivery.parts_sent,
                              delivery_id=delivery.delivery_id)
        except Exception as exc:
            return await self._failed(delivery, exc, now)
        await self.store.sent(delivery, now)
        return _with(delivery, status=SENT, attempts=delivery.attempts + 1, sent_at=now, last_error=None)

    async def _failed(self, delivery: Delivery, exc: Exception, now: float) -> Delivery:
        error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
        permanent = isinstance(exc, NotFound) or (isinstance(exc, DeliveryError) and exc.permanent)
        parts = max(delivery.parts_sent, exc.parts_sent if isinstance(exc, DeliveryError) else 0)
        attempts = delivery.attempts + 1
        retry_at: float | None = None
        if not permanent and attempts < self.max_attempts:
            wait = min(self.max_retry, self.first_retry * 2 ** (attempts - 1))
            if isinstance(exc, DeliveryError) and exc.retry_after is not None:
                wait = max(wait, exc.retry_after)
            retry_at = now + wait
        await self.store.failed_attempt(delivery, error, parts_sent=parts, retry_at=retry_at)
        if retry_at is None:
            log.error("conversation %s: message %s on %s not delivered after %d attempt(s), given up: %s",
                      delivery.conversation_id, delivery.delivery_id, delivery.channel, attempts, error)
            return _with(delivery, status=FAILED, attempts=attempts, parts_sent=parts, last_error=error)
        log.warning("conversation %s: message %s on %s not delivered (attempt %d): %s; next try in %.0fs",
                    delivery.conversation_id, delivery.delivery_id, delivery.channel, attempts, error, retry_at - now)
        return _with(delivery, status=PENDING, attempts=attempts, parts_sent=parts, last_error=error,
                     next_attempt_at=retry_at)

    async def _changed(self, delivery: Delivery) -> None:
        for listener in self.listeners:
            try:
                await listener(delivery)
            except Exception:
                log.exception("a delivery listener failed on conversation %s", delivery.conversation_id)

    # -- asked for -------------------------------------------------------------------------------

    async def resend(self, conversation_id: str, delivery_id: str) -> Delivery:
        """An agent's resend of an undelivered message: due now, with a fresh count of attempts."""
        async with self.locks.lock(conversation_id):
            found = await self.store.get(conversation_id, delivery_id)
            if found is None:
                raise NotFound(f"conversation {conversation_id!r} has no outgoing message {delivery_id!r}")
            if found.status not in (PENDING, FAILED):
                return found  # sent (or being sent): never twice
            await self.store.retry_now(conversation_id, self.clock(), delivery_id=delivery_id)
            await self.deliver(conversation_id)
            again = await self.store.get(conversation_id, delivery_id)
        assert again is not None
        return again

    async def reconnected(self, conversation_id: str, channel: str) -> list[Delivery]:
        """A customer's chat came back (a widget's session_request with its old session id): what
        the channel could not deliver while it was away goes out now, given up or not."""
        async with self.locks.lock(conversation_id):
            if await self.store.retry_now(conversation_id, self.clock(), channels=[channel]) == 0:
                return []
            return await self.deliver(conversation_id)

    # -- the poll --------------------------------------------------------------------------------

    async def poll_once(self) -> int:
        """Fail what a dead worker left half-sent, then deliver every conversation with a message
        due; returns how many messages were tried."""
        now = self.clock()
        abandoned = await self.store.abandoned(now - self.claim_timeout)
        if abandoned:
            log.error("outbox: %d message(s) left half-sent by a stopped worker are marked failed", abandoned)

        async def one(conversation_id: str) -> int:
            async with self._slots:
                return len(await self.flush(conversation_id))

        counts = await asyncio.gather(*(one(cid) for cid in await self.store.due(now)), return_exceptions=True)
        for count in counts:
            if isinstance(count, BaseException):
                log.error("outbox: a delivery round failed: %s", count)
        return sum(c for c in counts if isinstance(c, int))

    def start(self) -> None:
        self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()


def _with(delivery: Delivery, **changes: Any) -> Delivery:
    return replace(delivery, **changes)


DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher", Dispatcher)
